"""The shared routes, for Powertools' event handler (REST and HTTP API resolvers).

Powertools routes on the event's path as API Gateway delivers it (percent-encoded for
REST, decoded for HTTP API) and does not decode path parameters itself.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from aws_lambda_powertools.event_handler import content_types
from aws_lambda_powertools.event_handler.api_gateway import ApiGatewayResolver, Response
from aws_lambda_powertools.shared.cookies import Cookie

BINARY = bytes(range(256))
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def _split(value: Any) -> list[str]:
    values = value if isinstance(value, list) else [value] if value else []
    return [part.strip() for item in values for part in item.split(",")]


def register(app: ApiGatewayResolver) -> None:
    """Add the shared routes to a resolver."""

    def body_bytes() -> bytes:
        event = app.current_event
        if event.is_base64_encoded and event.body:
            return base64.b64decode(event.body)
        return (event.body or "").encode()

    @app.route("/echo", method=METHODS)
    def echo() -> dict[str, Any]:
        event = app.current_event
        body = body_bytes()
        headers = event.resolved_headers_field
        return {
            "method": event.http_method,
            "path": event.path,
            "query": {k: list(v) for k, v in event.resolved_query_string_parameters.items()},
            "x_multi": _split(headers.get("x-multi")),
            "content_type": event.headers.get("content-type"),
            "cookies": event.resolved_cookies_field,
            "body_len": len(body),
            "body_sha256": hashlib.sha256(body).hexdigest(),
        }

    @app.get("/items/<item_id>")
    def item(item_id: str) -> dict[str, str]:
        return {"item_id": item_id}

    @app.get("/files/.+")
    def files() -> dict[str, str]:  # a route parameter cannot span slashes
        return {"rest": app.current_event.path[len("/files/") :]}

    @app.get("/cookies/set")
    def set_cookies() -> Response:
        return Response(
            200,
            content_types.APPLICATION_JSON,
            '{"ok": true}',
            cookies=[Cookie("a", "1", path="/"), Cookie("b", "2", http_only=True)],
        )

    @app.get("/headers/multi")
    def multi_headers() -> Response:
        return Response(200, content_types.TEXT_PLAIN, "multi", headers={"X-Multi": ["one", "two"]})

    @app.get("/binary")
    def binary() -> Response:
        return Response(200, "application/octet-stream", BINARY)

    @app.post("/upload")
    def upload() -> dict[str, Any]:
        body = body_bytes()
        return {"len": len(body), "sha256": hashlib.sha256(body).hexdigest()}

    @app.get("/redirect")
    def go_elsewhere() -> Response:
        return Response(302, headers={"Location": "/echo?from=redirect"})

    @app.get("/empty")
    def empty() -> Response:
        return Response(204)

    @app.get("/status/<code>")
    def status(code: str) -> Response:
        return Response(int(code), content_types.APPLICATION_JSON, f'{{"status": {int(code)}}}')

    @app.get("/text")
    def text() -> Response:
        return Response(200, "text/plain; charset=utf-8", "héllo wörld ✓")

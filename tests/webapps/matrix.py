"""The request matrix the web apps are checked with, and what "answers the same" means.

Used by the in-process fidelity tests (tests/test_webapps_inprocess.py) and meant for the
end-to-end tests through mitmdump: each Case is one HTTP request; ``observed`` reduces a
response to what must match between the app behind the proxy and the app called directly.
"""

from __future__ import annotations

import base64
import copy
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote

WEBAPPS = Path(__file__).resolve().parent
REFERENCE_EVENTS = WEBAPPS / "aws_events"  # AWS sample events (Powertools fixtures, MIT-0)
BINARY_UPLOAD = bytes(range(256)) * 4


@dataclass(frozen=True, slots=True)
class Case:
    id: str
    method: str
    path: str  # as sent: percent-encoded, no query
    query: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""

    @property
    def target(self) -> str:
        return f"{self.path}?{self.query}" if self.query else self.path

    def last_values(self, *, query: bool) -> Case:
        """This request with only the last value of a repeated header (and query argument
        if ``query``): what an ALB without multi-value headers passes on."""
        headers: dict[str, tuple[str, str]] = {}
        for name, value in self.headers:
            headers[name.lower()] = (name, value)
        args: dict[str, str] = {}
        for arg in self.query.split("&") if query and self.query else ():
            args[arg.partition("=")[0]] = arg
        return replace(
            self,
            headers=tuple(headers.values()),
            query="&".join(args.values()) if query else self.query,
        )


JSON = ("Content-Type", "application/json")

CASES: tuple[Case, ...] = (
    Case("get", "GET", "/echo"),
    Case("query-repeated", "GET", "/echo", "a=1&a=2&b=x%20y&c=1+2&d=%2B&flag&empty=&u=%C3%A9"),
    Case("post-json", "POST", "/echo", headers=(JSON,), body=b'{"k": "v", "n": [1, 2]}'),
    Case("post-empty", "POST", "/echo", headers=(JSON,)),
    Case(
        "put-form",
        "PUT",
        "/echo",
        headers=(("Content-Type", "application/x-www-form-urlencoded"),),
        body=b"a=1&b=two+words",
    ),
    Case(
        "patch-text",
        "PATCH",
        "/echo",
        headers=(("Content-Type", "text/plain; charset=utf-8"),),
        body="héllo wörld".encode(),
    ),
    Case("delete", "DELETE", "/echo"),
    Case("options", "OPTIONS", "/echo"),
    Case("path-param", "GET", "/items/42"),
    Case("path-percent-encoded", "GET", "/items/a%20b"),
    Case("path-unicode", "GET", "/items/caf%C3%A9"),
    Case("path-greedy", "GET", "/files/a/b/c.txt"),
    Case("cookies-in", "GET", "/echo", headers=(("Cookie", "a=1; b=two"),)),
    Case("cookies-out", "GET", "/cookies/set"),
    Case("headers-multi-in", "GET", "/echo", headers=(("X-Multi", "1"), ("X-Multi", "2"))),
    Case("headers-multi-out", "GET", "/headers/multi"),
    Case(
        "binary-upload",
        "POST",
        "/upload",
        headers=(("Content-Type", "application/octet-stream"),),
        body=BINARY_UPLOAD,
    ),
    Case("binary-download", "GET", "/binary"),
    Case("redirect", "GET", "/redirect"),
    Case("empty-204", "GET", "/empty"),
    Case("status-404", "GET", "/status/404"),
    Case("status-418", "GET", "/status/418"),
    Case("status-500", "GET", "/status/500"),
    Case("not-found", "GET", "/no/such/route"),
    Case("unicode-text", "GET", "/text"),
    Case("head", "HEAD", "/text"),
)


def observed(status: int, headers: list[tuple[str, str]], body: bytes) -> dict[str, Any]:
    """What must be equal: status, body, and the headers an app sets (Content-Type,
    Location, every Set-Cookie in order, X-Multi as a list whether repeated or
    comma-joined)."""
    lower = [(name.lower(), value) for name, value in headers]
    content_types = [value for name, value in lower if name == "content-type"]
    locations = [value for name, value in lower if name == "location"]
    return {
        "status": status,
        "body": body,
        "content-type": content_types[-1].replace(" ", "").lower() if content_types else None,
        "location": locations[-1] if locations else None,
        "set-cookie": [value for name, value in lower if name == "set-cookie"],
        "x-multi": [
            part.strip() for name, value in lower if name == "x-multi" for part in value.split(",")
        ],
    }


def comparable(behind_proxy: dict[str, Any], direct: dict[str, Any]) -> dict[str, Any]:
    """``behind_proxy`` without what an adapter adds as AWS does and a direct call
    cannot show: Mangum (v2) gives every response without a Content-Type
    ``application/json``, as API Gateway does."""
    if direct["content-type"] is None:
        return {**behind_proxy, "content-type": None}
    return behind_proxy


def last_response_values(answer: dict[str, Any]) -> dict[str, Any]:
    """``answer`` with only the last value of a repeated response header."""
    return {**answer, "set-cookie": answer["set-cookie"][-1:], "x-multi": answer["x-multi"][-1:]}


class LambdaContext:
    """The attributes of the Lambda context object the adapters read."""

    function_name = "webapp"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:webapp"
    memory_limit_in_mb = 128
    aws_request_id = "00000000-0000-0000-0000-000000000000"
    log_group_name = "/aws/lambda/webapp"
    log_stream_name = "local"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


# --- reference events: AWS's sample events with one request's values -----------------


def _fixture(name: str) -> dict[str, Any]:
    return copy.deepcopy(json.loads((REFERENCE_EVENTS / name).read_text()))


def _aws_body(case: Case) -> tuple[str | None, bool]:
    content_type = dict((k.lower(), v) for k, v in case.headers).get("content-type", "")
    if not case.body:
        return None, False
    if content_type.startswith("application/octet-stream"):
        return base64.b64encode(case.body).decode(), True
    return case.body.decode(), False


def reference_rest_event(case: Case, host: str) -> dict[str, Any]:
    """AWS's REST (v1) sample event carrying ``case``, as API Gateway documents it."""
    event = _fixture("apigw-rest-v1.json")
    headers = [("Host", host), *case.headers]
    args = parse_qsl(case.query, keep_blank_values=True)
    multi_headers: dict[str, list[str]] = {}
    for name, value in headers:
        multi_headers.setdefault(name, []).append(value)
    multi_query: dict[str, list[str]] = {}
    for name, value in args:
        multi_query.setdefault(name, []).append(value)
    body, is_base64 = _aws_body(case)
    event.update(
        resource="/{proxy+}",
        path=case.path,
        httpMethod=case.method,
        headers={name: values[-1] for name, values in multi_headers.items()},
        multiValueHeaders=multi_headers,
        queryStringParameters={k: v[-1] for k, v in multi_query.items()} or None,
        multiValueQueryStringParameters=multi_query or None,
        pathParameters={"proxy": case.path[1:]},
        body=body,
        isBase64Encoded=is_base64,
    )
    event["requestContext"].update(httpMethod=case.method, path=case.path)
    return event


def reference_http_event(case: Case, host: str) -> dict[str, Any]:
    """AWS's HTTP API (v2) sample event carrying ``case``, as API Gateway documents it."""
    event = _fixture("apigw-http-v2.json")
    headers: dict[str, str] = {"host": host}
    cookies: list[str] = []
    for name, value in case.headers:
        if name.lower() == "cookie":
            cookies += [c.strip() for c in value.split(";")]
        else:
            headers[name.lower()] = ",".join(filter(None, [headers.get(name.lower()), value]))
    query: dict[str, str] = {}
    for name, value in parse_qsl(case.query, keep_blank_values=True):
        query[name] = f"{query[name]},{value}" if name in query else value
    body, is_base64 = _aws_body(case)
    for key in ("cookies", "queryStringParameters", "pathParameters", "stageVariables", "body"):
        event.pop(key)
    event.update(routeKey="$default", rawPath=unquote(case.path), rawQueryString=case.query)
    event.update(headers=headers, isBase64Encoded=is_base64)
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    if body is not None:
        event["body"] = body
    event["requestContext"]["http"].update(method=case.method, path=unquote(case.path))
    return event

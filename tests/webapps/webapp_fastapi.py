"""A FastAPI app run as a Lambda handler by Mangum (API Gateway v1, v2 and ALB events).

Every web app in this folder answers the same routes the same way, so that one request
matrix exercises them all (see tests/test_webapps_inprocess.py).
"""

from __future__ import annotations

import hashlib

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse
from mangum import Mangum
from webapp_events import validated

BINARY = bytes(range(256))

app = FastAPI()


def _split(values: list[str]) -> list[str]:
    """Header values as a list, whether the client repeated the header or comma-joined it."""
    return [part.strip() for value in values for part in value.split(",")]


@app.api_route("/echo", methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
async def echo(request: Request) -> JSONResponse:
    body = await request.body()
    query: dict[str, list[str]] = {}
    for name, value in request.query_params.multi_items():
        query.setdefault(name, []).append(value)
    return JSONResponse(
        {
            "method": request.method,
            "path": request.url.path,
            "query": query,
            "x_multi": _split(request.headers.getlist("x-multi")),
            "content_type": request.headers.get("content-type"),
            "cookies": dict(request.cookies),
            "body_len": len(body),
            "body_sha256": hashlib.sha256(body).hexdigest(),
        }
    )


@app.get("/items/{item_id}")
async def item(item_id: str) -> dict[str, str]:
    return {"item_id": item_id}


@app.get("/files/{rest:path}")
async def files(rest: str) -> dict[str, str]:
    return {"rest": rest}


@app.get("/cookies/set")
async def set_cookies() -> JSONResponse:
    response = JSONResponse({"ok": True})
    response.set_cookie("a", "1", path="/")
    response.set_cookie("b", "2", httponly=True)
    return response


@app.get("/headers/multi")
async def multi_headers() -> PlainTextResponse:
    response = PlainTextResponse("multi")
    response.headers.append("X-Multi", "one")
    response.headers.append("X-Multi", "two")
    return response


@app.get("/binary")
async def binary() -> Response:
    return Response(BINARY, media_type="application/octet-stream")


@app.post("/upload")
async def upload(request: Request) -> dict[str, object]:
    body = await request.body()
    return {"len": len(body), "sha256": hashlib.sha256(body).hexdigest()}


@app.get("/redirect")
async def redirect() -> RedirectResponse:
    return RedirectResponse("/echo?from=redirect", status_code=302)


@app.get("/empty")
async def empty() -> Response:
    return Response(status_code=204)


@app.get("/status/{code}")
async def status(code: int) -> JSONResponse:
    return JSONResponse({"status": code}, status_code=code)


@app.get("/site/{slug}")
async def site(slug: str, request: Request) -> dict[str, object]:
    """What API Gateway told the function about the route (None when called directly)."""
    event = request.scope.get("aws.event") or {}
    return {
        "slug": slug,
        "resource": event.get("resource"),
        "routeKey": event.get("routeKey"),
        "pathParameters": event.get("pathParameters"),
    }


@app.get("/text")
async def text() -> PlainTextResponse:
    return PlainTextResponse("héllo wörld ✓")


handler = validated(Mangum(app, lifespan="off"))

"""A Flask app with the same routes as webapp_fastapi; run by serverless-wsgi
(webapp_flask_serverless_wsgi) or apig-wsgi (webapp_flask_apig_wsgi)."""

from __future__ import annotations

import hashlib

from flask import Flask, Response, jsonify, redirect, request

BINARY = bytes(range(256))

app = Flask(__name__)


def _split(values: list[str]) -> list[str]:
    """Header values as a list, whether the client repeated the header or comma-joined it."""
    return [part.strip() for value in values for part in value.split(",")]


@app.route("/echo", methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
def echo() -> Response:
    body = request.get_data()
    return jsonify(
        {
            "method": request.method,
            "path": request.path,
            "query": request.args.to_dict(flat=False),
            "x_multi": _split(request.headers.getlist("X-Multi")),
            "content_type": request.headers.get("Content-Type") or None,
            "cookies": dict(request.cookies),
            "body_len": len(body),
            "body_sha256": hashlib.sha256(body).hexdigest(),
        }
    )


@app.get("/items/<item_id>")
def item(item_id: str) -> Response:
    return jsonify({"item_id": item_id})


@app.get("/files/<path:rest>")
def files(rest: str) -> Response:
    return jsonify({"rest": rest})


@app.get("/cookies/set")
def set_cookies() -> Response:
    response = jsonify({"ok": True})
    response.set_cookie("a", "1", path="/")
    response.set_cookie("b", "2", httponly=True)
    return response


@app.get("/headers/multi")
def multi_headers() -> Response:
    response = Response("multi", mimetype="text/plain")
    response.headers.add("X-Multi", "one")
    response.headers.add("X-Multi", "two")
    return response


@app.get("/binary")
def binary() -> Response:
    return Response(BINARY, mimetype="application/octet-stream")


@app.post("/upload")
def upload() -> Response:
    body = request.get_data()
    return jsonify({"len": len(body), "sha256": hashlib.sha256(body).hexdigest()})


@app.get("/redirect")
def go_elsewhere() -> Response:
    return redirect("/echo?from=redirect", code=302)


@app.get("/empty")
def empty() -> Response:
    return Response(status=204)


@app.get("/status/<int:code>")
def status(code: int) -> tuple[Response, int]:
    return jsonify({"status": code}), code


@app.get("/text")
def text() -> Response:
    return Response("héllo wörld ✓", mimetype="text/plain")

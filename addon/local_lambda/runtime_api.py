"""The Lambda Runtime API, served to Runtime API workers on loopback.

Each worker gets its own listening socket on 127.0.0.1 (passed as
``AWS_LAMBDA_RUNTIME_API``), bound to the worker's ``RuntimeSession``; the HTTP side is
``runtime_http`` (hand-written, for the trailers of streamed responses and for speed).
Status codes and error bodies follow AWS's Runtime Interface Emulator: 202
``{"status":"OK"}`` (held for a client that pipelines its next request), 400
``InvalidRequestID`` (unknown id, or a second answer for the same id), 413
``RequestEntityTooLarge``, 403 ``InvalidStateTransition``.

A response is resolved as one ``Result``. In the streaming response mode
(``Lambda-Runtime-Function-Response-Mode: streaming``, a chunked body, an error in the
``Lambda-Runtime-Function-Error-Type`` / ``-Error-Body`` trailers) the ``Result`` comes as
soon as the POST starts and carries a ``ResponseStream`` that the body flows through.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from local_lambda.response_stream import ResponseStream, StreamBroken
from local_lambda.runtime_http import BodyBroken, HttpAnswer, HttpRequest, serve_connection

BASE = "/2018-06-01/runtime"
PAYLOAD_LIMIT = 6 * 1024 * 1024 + 100
"""Bytes: the largest response a runtime may post (AWS's MaxPayloadSize)."""


@dataclass(frozen=True, slots=True)
class Result:
    payload: bytes
    failed: bool
    stream: ResponseStream | None = None
    """Set for a streaming-mode response: the payload arrives through it."""


@dataclass(slots=True)
class Invocation:
    request_id: str
    payload: bytes
    headers: dict[str, str]
    result: asyncio.Future[Result] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class RuntimeExited(Exception):
    """The worker's process ended."""


class RuntimeSession:
    """The Runtime API state of one worker: init, waiting in /next, running an invocation."""

    def __init__(self) -> None:
        loop = asyncio.get_running_loop()
        self.ready: asyncio.Future[dict[str, Any] | None] = loop.create_future()
        """None at the first /next; the error object of a POST init/error."""
        self.current: Invocation | None = None
        self.pending: Invocation | None = None
        self._waiting: asyncio.Future[Invocation | None] | None = None
        self.endpoint = ""

    def dispatch(self, invocation: Invocation) -> None:
        self.current = invocation
        if self._waiting is not None and not self._waiting.done():
            self._waiting.set_result(invocation)
        else:
            self.pending = invocation

    async def next(self) -> Invocation | None:
        if not self.ready.done():
            self.ready.set_result(None)
        if self.pending is not None:
            invocation, self.pending = self.pending, None
            return invocation
        self._waiting = asyncio.get_running_loop().create_future()
        return await self._waiting

    def close(self, exc: BaseException) -> None:
        for future in (self.ready, self.current.result if self.current else None):
            if future is not None and not future.done():
                future.set_exception(exc)
        result = self.current.result if self.current else None
        if result is not None and result.done() and not result.exception():
            stream = result.result().stream
            if stream is not None:
                stream.break_off(exc)
        if self._waiting is not None and not self._waiting.done():
            self._waiting.set_result(None)


_JSON = {"Content-Type": "application/json"}


def _error(status: int, error_type: str, message: str) -> HttpAnswer:
    body = json.dumps({"errorMessage": message, "errorType": error_type}).encode()
    return HttpAnswer(status, body, _JSON)


_ACCEPTED = HttpAnswer(202, b'{"status":"OK"}\n', _JSON, hold=True)
_GONE = ("Runtime.Gone", "This execution environment has ended.")
_ANSWER_PATH = re.compile(re.escape(BASE) + r"/invocation/([^/]+)/(response|error)")


def error_object(body: bytes, error_type: str | None) -> dict[str, Any]:
    """The error a runtime posted, as the Invoke answer's payload."""
    try:
        parsed = json.loads(body) if body else None
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        if error_type and "errorType" not in parsed:
            parsed["errorType"] = error_type
        return parsed
    return {
        "errorMessage": body.decode("utf-8", "replace"),
        "errorType": error_type or "Runtime.Unknown",
    }


def trailer_error(trailers: dict[str, str]) -> dict[str, Any] | None:
    """The error a streamed response ended with (its trailers), or None."""
    error_type = trailers.get("lambda-runtime-function-error-type")
    if error_type is None:
        return None
    try:
        body = base64.b64decode(trailers.get("lambda-runtime-function-error-body", ""))
    except (binascii.Error, ValueError):
        body = b""
    return error_object(body, error_type)


class RuntimeApi:
    """The loopback Runtime API listeners of the server, one per worker."""

    def __init__(self) -> None:
        self._servers: dict[RuntimeSession, asyncio.Server] = {}
        self._connections: dict[RuntimeSession, set[asyncio.StreamWriter]] = {}

    async def open(self) -> RuntimeSession:
        """A new session with its own loopback port (``session.endpoint`` is host:port)."""
        session = RuntimeSession()
        self._connections[session] = set()
        server = await asyncio.start_server(functools.partial(self._serve, session), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        session.endpoint = f"127.0.0.1:{port}"
        self._servers[session] = server
        return session

    async def release(self, session: RuntimeSession) -> None:
        server = self._servers.pop(session, None)
        if server is not None:
            server.close()
        for writer in self._connections.pop(session, set()):
            writer.close()

    async def close(self) -> None:
        for session in list(self._servers):
            await self.release(session)

    async def _serve(
        self, session: RuntimeSession, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        connections = self._connections.get(session)
        if connections is None:
            writer.close()
            return
        connections.add(writer)
        try:
            await serve_connection(functools.partial(self._route, session), reader, writer)
        finally:
            connections.discard(writer)

    async def _route(self, session: RuntimeSession, request: HttpRequest) -> HttpAnswer:
        path = request.path.partition("?")[0]
        if path == f"{BASE}/invocation/next":
            if request.method != "GET":
                return _error(405, "MethodNotAllowed", "Method Not Allowed")
            return await self._next(session)
        if path == f"{BASE}/init/error" and request.method == "POST":
            return await self._init_error(session, request)
        answer = _ANSWER_PATH.fullmatch(path)
        if answer is None or request.method != "POST":
            return _error(404, "NotFound", "Not Found")
        request_id = unquote(answer.group(1))
        if answer.group(2) == "error":
            return await self._error(session, request_id, request)
        mode = request.headers.get("lambda-runtime-function-response-mode", "")
        if mode.lower() == "streaming":
            return await self._stream(session, request_id, request)
        return await self._response(session, request_id, request)

    async def _next(self, session: RuntimeSession) -> HttpAnswer:
        if session not in self._servers:
            return _error(410, *_GONE)
        current = session.current
        if current is not None and not current.result.done() and current is not session.pending:
            return _error(
                403,
                "InvalidStateTransition",
                "State transition from Invoke to InvocationNext failed for runtime. "
                "Error: the current invocation has no response yet",
            )
        invocation = await session.next()
        if invocation is None:
            return _error(410, *_GONE)
        return HttpAnswer(200, invocation.payload, invocation.headers)

    @staticmethod
    def _invocation(session: RuntimeSession, request_id: str) -> Invocation | None:
        current = session.current
        if current is None or current.request_id != request_id:
            return None
        return None if current.result.done() else current

    async def _response(
        self, session: RuntimeSession, request_id: str, request: HttpRequest
    ) -> HttpAnswer:
        body = await request.read(PAYLOAD_LIMIT)
        invocation = self._invocation(session, request_id)
        if invocation is None:
            return _error(400, "InvalidRequestID", "Invalid request ID")
        if body is None:
            too_large = {
                "errorMessage": "Response payload size exceeded maximum allowed payload size "
                f"({PAYLOAD_LIMIT} bytes).",
                "errorType": "Function.ResponseSizeTooLarge",
            }
            invocation.result.set_result(Result(json.dumps(too_large).encode(), True))
            return _error(
                413,
                "RequestEntityTooLarge",
                f"Exceeded maximum allowed payload size ({PAYLOAD_LIMIT} bytes).",
            )
        invocation.result.set_result(Result(body, False))
        return _ACCEPTED

    async def _stream(
        self, session: RuntimeSession, request_id: str, request: HttpRequest
    ) -> HttpAnswer:
        """A streaming-mode response: each piece goes on as it arrives, no size limit."""
        invocation = self._invocation(session, request_id)
        if invocation is None:
            return _error(400, "InvalidRequestID", "Invalid request ID")
        content_type = request.headers.get("content-type", "application/octet-stream")
        stream = ResponseStream(content_type)
        invocation.result.set_result(Result(b"", False, stream))
        try:
            async for piece in request.chunks():
                await stream.put(piece)
        except BodyBroken:
            stream.break_off(StreamBroken())
            raise
        stream.end(trailer_error(request.trailers))
        return _ACCEPTED

    async def _error(
        self, session: RuntimeSession, request_id: str, request: HttpRequest
    ) -> HttpAnswer:
        body = await request.read(PAYLOAD_LIMIT) or b""
        invocation = self._invocation(session, request_id)
        if invocation is None:
            return _error(400, "InvalidRequestID", "Invalid request ID")
        error = error_object(body, request.headers.get("lambda-runtime-function-error-type"))
        invocation.result.set_result(Result(json.dumps(error).encode(), True))
        return _ACCEPTED

    async def _init_error(self, session: RuntimeSession, request: HttpRequest) -> HttpAnswer:
        body = await request.read(PAYLOAD_LIMIT) or b""
        if session.ready.done():
            return _error(
                403,
                "InvalidStateTransition",
                "State transition from Ready to InitError failed for runtime. Error: init is over",
            )
        session.ready.set_result(
            error_object(body, request.headers.get("lambda-runtime-function-error-type"))
        )
        return _ACCEPTED

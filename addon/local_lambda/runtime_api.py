"""The Lambda Runtime API, served to Runtime API workers on loopback.

One aiohttp application; each worker gets its own listening socket on 127.0.0.1 (passed as
``AWS_LAMBDA_RUNTIME_API``), and a request is routed to the worker's ``RuntimeSession`` by
the local port it arrived on. Status codes and error bodies follow AWS's Runtime Interface
Emulator: 202 ``{"status":"OK"}``, 400 ``InvalidRequestID`` (unknown id, or a second answer
for the same id), 413 ``RequestEntityTooLarge``, 403 ``InvalidStateTransition``.

A response is resolved as one ``Result``; the streaming response mode
(``Lambda-Runtime-Function-Response-Mode: streaming``) can resolve it with a stream instead.
"""

from __future__ import annotations

import asyncio
import json
import socket
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

BASE = "/2018-06-01/runtime"
PAYLOAD_LIMIT = 6 * 1024 * 1024 + 100
"""Bytes: the largest response a runtime may post (AWS's MaxPayloadSize)."""


@dataclass(frozen=True, slots=True)
class Result:
    payload: bytes
    failed: bool


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
        if self._waiting is not None and not self._waiting.done():
            self._waiting.set_result(None)


def _error(status: int, error_type: str, message: str) -> web.Response:
    body = json.dumps({"errorMessage": message, "errorType": error_type}).encode()
    return web.Response(status=status, body=body, content_type="application/json")


_ACCEPTED = b'{"status":"OK"}\n'


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


class RuntimeApi:
    """The loopback Runtime API listener(s) of the server."""

    def __init__(self) -> None:
        self._sessions: dict[int, RuntimeSession] = {}
        self._sites: dict[int, web.SockSite] = {}
        self._runner: web.AppRunner | None = None

    async def _ensure_runner(self) -> web.AppRunner:
        if self._runner is None:
            app = web.Application()
            app.router.add_get(f"{BASE}/invocation/next", self._next)
            app.router.add_post(f"{BASE}/invocation/{{id}}/response", self._response)
            app.router.add_post(f"{BASE}/invocation/{{id}}/error", self._error)
            app.router.add_post(f"{BASE}/init/error", self._init_error)
            self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
            await self._runner.setup()
        return self._runner

    async def open(self) -> RuntimeSession:
        """A new session with its own loopback port (``session.endpoint`` is host:port)."""
        runner = await self._ensure_runner()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        site = web.SockSite(runner, sock)
        await site.start()
        session = RuntimeSession()
        session.endpoint = f"127.0.0.1:{port}"
        self._sessions[port] = session
        self._sites[port] = site
        return session

    async def release(self, session: RuntimeSession) -> None:
        port = int(session.endpoint.rpartition(":")[2])
        self._sessions.pop(port, None)
        site = self._sites.pop(port, None)
        if site is not None:
            await site.stop()

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def _session(self, request: web.Request) -> RuntimeSession | None:
        sockname = request.transport.get_extra_info("sockname") if request.transport else None
        return self._sessions.get(sockname[1]) if sockname else None

    async def _next(self, request: web.Request) -> web.StreamResponse:
        session = self._session(request)
        if session is None:
            return _error(410, "Runtime.Gone", "This execution environment has ended.")
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
            return _error(410, "Runtime.Gone", "This execution environment has ended.")
        return web.Response(body=invocation.payload, headers=invocation.headers)

    async def _read_limited(self, request: web.Request) -> bytes | None:
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.content.iter_any():
            size += len(chunk)
            if size <= PAYLOAD_LIMIT:
                chunks.append(chunk)
        return None if size > PAYLOAD_LIMIT else b"".join(chunks)

    def _invocation(self, request: web.Request) -> Invocation | None:
        session = self._session(request)
        current = session.current if session else None
        if current is None or current.request_id != request.match_info["id"]:
            return None
        return None if current.result.done() else current

    async def _response(self, request: web.Request) -> web.Response:
        body = await self._read_limited(request)
        invocation = self._invocation(request)
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
        return web.Response(status=202, body=_ACCEPTED, content_type="application/json")

    async def _error(self, request: web.Request) -> web.Response:
        body = await self._read_limited(request) or b""
        invocation = self._invocation(request)
        if invocation is None:
            return _error(400, "InvalidRequestID", "Invalid request ID")
        error = error_object(body, request.headers.get("Lambda-Runtime-Function-Error-Type"))
        invocation.result.set_result(Result(json.dumps(error).encode(), True))
        return web.Response(status=202, body=_ACCEPTED, content_type="application/json")

    async def _init_error(self, request: web.Request) -> web.Response:
        body = await self._read_limited(request) or b""
        session = self._session(request)
        if session is None or session.ready.done():
            return _error(
                403,
                "InvalidStateTransition",
                "State transition from Ready to InitError failed for runtime. Error: init is over",
            )
        session.ready.set_result(
            error_object(body, request.headers.get("Lambda-Runtime-Function-Error-Type"))
        )
        return web.Response(status=202, body=_ACCEPTED, content_type="application/json")

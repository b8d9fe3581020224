"""A fake ``response-streaming-invocations`` endpoint in a thread of the test process, for
end-to-end tests through mitmdump that need exact control of the stream: a chunk held
back until the client has the one before (``gate``), a function failing mid-stream, a
connection dropped mid-stream. It checks each request's SigV4 signature and writes real
event-stream frames (``eventstream_frames``)."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from aiohttp import web

from tests import eventstream_frames as frames
from tests.fakeaws import KeyStore, aws_error, check_signature

ACCESS_KEY = "AKIDFAKESTREAM"
SECRET_KEY = "fake-stream-secret"
EVENTSTREAM = "application/vnd.amazon.eventstream"
INTEGRATION = "application/vnd.awslambda.http-integration-response"

Writer = Callable[[bytes], Awaitable[None]]


def prelude(status: int = 200, headers: dict[str, str] | None = None, **extra: object) -> bytes:
    """What ``awslambda.HttpResponseStream.from`` writes first."""
    return json.dumps({"statusCode": status, "headers": headers or {}, **extra}).encode() + (
        b"\x00" * 8
    )


@dataclass
class Invocation:
    function: str
    payload: bytes
    write: Writer
    request: web.Request
    #: set by the test to let a gated script go on
    gates: dict[str, threading.Event]

    async def gate(self, name: str, timeout: float = 20.0) -> None:
        """Wait (off the loop) until the test opens gate ``name``."""
        event = self.gates.setdefault(name, threading.Event())
        if not await asyncio.to_thread(event.wait, timeout):
            raise TimeoutError(f"gate {name!r} was never opened")


Script = Callable[[Invocation], Awaitable[None]]


@dataclass
class FakeStreamingLambda:
    scripts: dict[str, Script]
    port: int = 0
    payloads: list[bytes] = field(default_factory=list)
    gates: dict[str, threading.Event] = field(default_factory=dict)
    #: (function, how the script ended) in the order they ended
    ended: list[tuple[str, str]] = field(default_factory=list)

    def gate(self, name: str) -> threading.Event:
        return self.gates.setdefault(name, threading.Event())

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        keys = KeyStore()
        keys.add(ACCESS_KEY, SECRET_KEY)
        problem = check_signature(
            request, body, keys, region="us-east-1", service="lambda", scheme="http"
        )
        if problem is not None:
            return aws_error(403, *problem)
        function = request.match_info["tail"].split("/")[2]
        self.payloads.append(body)
        response = web.StreamResponse(
            headers={"Content-Type": EVENTSTREAM, "X-Amz-Executed-Version": "$LATEST"}
        )
        response.enable_chunked_encoding()
        await response.prepare(request)

        async def write(data: bytes) -> None:
            await response.write(data)

        try:
            await self.scripts[function](Invocation(function, body, write, request, self.gates))
            await response.write_eof()
            self.ended.append((function, "returned"))
        except (ConnectionError, asyncio.CancelledError) as exc:
            self.ended.append((function, type(exc).__name__))
            raise
        return response


@contextmanager
def fake_streaming_lambda(scripts: dict[str, Script]) -> Iterator[FakeStreamingLambda]:
    """Serve on 127.0.0.1 (a free port) from a thread until the block ends."""
    fake = FakeStreamingLambda(scripts)
    loop = asyncio.new_event_loop()
    started = threading.Event()
    runner: list[web.AppRunner] = []

    async def start() -> None:
        app = web.Application()
        app.router.add_post("/{tail:.*}", fake._handle)
        app_runner = web.AppRunner(app, shutdown_timeout=0.1, access_log=None)
        await app_runner.setup()
        site = web.TCPSite(app_runner, "127.0.0.1", 0)
        await site.start()
        fake.port = app_runner.addresses[0][1]
        runner.append(app_runner)
        started.set()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    if not started.wait(10):
        raise RuntimeError("the fake streaming endpoint did not start")
    try:
        yield fake
    finally:
        for event in fake.gates.values():
            event.set()
        asyncio.run_coroutine_threadsafe(runner[0].cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


def log_result(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def chunk(data: bytes) -> bytes:
    return frames.chunk(data)


def complete(error_code: str | None = None, details: str | None = None, logs: str = "") -> bytes:
    return frames.complete(error_code, details, log_result(logs) if logs else None)

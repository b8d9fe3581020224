"""A minimal Lambda Runtime API, to test runtime clients (our Node.js bootstrap) on their own.

It follows AWS's documented contract, on raw asyncio streams rather than aiohttp because a
client's streaming response ends with HTTP trailers, which aiohttp's parser drops:

    GET  /2018-06-01/runtime/invocation/next         waits for ``invoke()``; 200, event, headers
    POST /2018-06-01/runtime/invocation/{id}/response  202; buffered, or streaming (chunked body,
                                                    error trailers), each chunk recorded as it lands
    POST /2018-06-01/runtime/invocation/{id}/error     202
    POST /2018-06-01/runtime/init/error                202

Unknown request ids get 400 and a second answer for the same id 400 (AWS's
InvalidRequestID / InvalidStateTransition). For tests only: one client at a time.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

_PREFIX = "/2018-06-01/runtime/"


@dataclass
class Posted:
    """What the runtime posted: to ``.../response`` (kind "response") or ``.../error``."""

    kind: str
    headers: dict[str, str]
    body: bytes
    chunks: list[tuple[float, bytes]] = field(default_factory=list)
    trailers: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Invocation:
    request_id: str
    event: bytes
    headers: dict[str, str]
    answer: asyncio.Future[Posted]
    # (monotonic time, bytes) for each chunk of a streaming response, as it arrives
    chunk_queue: asyncio.Queue[tuple[float, bytes]] = field(default_factory=asyncio.Queue)


class RuntimeApiPeer:
    def __init__(self) -> None:
        self._pending: asyncio.Queue[Invocation] = asyncio.Queue()
        self._invocations: dict[str, Invocation] = {}
        self.init_error: asyncio.Future[Posted] = asyncio.get_running_loop().create_future()
        self.next_calls = 0
        self.rejected: list[tuple[str, int]] = []
        # Close the next reused keep-alive connection on its next request, unanswered: what a
        # server closing an idle connection looks like when the close races the reuse.
        self.drop_next_reused_connection = False
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"127.0.0.1:{port}"

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for connection in self._connections:
            connection.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)

    def invoke(
        self,
        event: Any = None,
        *,
        raw: bytes | None = None,
        timeout_s: float = 30.0,
        headers: dict[str, str] | None = None,
    ) -> Invocation:
        """Queue an invocation for the next /next call."""
        request_id = str(uuid.uuid4())
        arn = "arn:aws:lambda:us-east-1:123456789012:function:peer"
        all_headers = {
            "Lambda-Runtime-Aws-Request-Id": request_id,
            "Lambda-Runtime-Deadline-Ms": str(int((time.time() + timeout_s) * 1000)),
            "Lambda-Runtime-Invoked-Function-Arn": arn,
            "Lambda-Runtime-Trace-Id": f"Root=1-{uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:24]}",
            "Content-Type": "application/json",
            **(headers or {}),
        }
        body = raw if raw is not None else json.dumps(event).encode()
        invocation = Invocation(
            request_id, body, all_headers, asyncio.get_running_loop().create_future()
        )
        self._invocations[request_id] = invocation
        self._pending.put_nowait(invocation)
        return invocation

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        requests = 0
        try:
            while True:
                request_line = await reader.readline()
                if not request_line:
                    return
                requests += 1
                if requests > 1 and self.drop_next_reused_connection:
                    self.drop_next_reused_connection = False
                    return
                method, target, _version = request_line.decode("latin-1").split(" ", 2)
                headers = await _read_fields(reader)
                await self._route(method, target, headers, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        except asyncio.CancelledError:
            # close() cancels connections blocked in /next; ending normally keeps Python
            # 3.11's start_server callback from logging the cancellation as an error.
            return
        finally:
            self._connections.discard(task)
            writer.close()

    async def _route(
        self,
        method: str,
        target: str,
        headers: dict[str, str],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        path = target.removeprefix(_PREFIX)
        if method == "GET" and path == "invocation/next":
            self.next_calls += 1
            queued = await self._pending.get()
            await _answer(writer, 200, queued.event, queued.headers)
            return
        chunk_queue = None
        invocation: Invocation | None = None
        parts = path.split("/")
        if method == "POST" and len(parts) == 3 and parts[0] == "invocation":
            invocation = self._invocations.get(parts[1])
            chunk_queue = invocation.chunk_queue if invocation else None
        posted = await _read_body(reader, headers, chunk_queue)
        if method == "POST" and path == "init/error":
            if not self.init_error.done():
                self.init_error.set_result(Posted("init_error", headers, posted.body))
            await _answer(writer, 202, b'{"status":"OK"}')
            return
        if chunk_queue is None or parts[2] not in ("response", "error"):
            self.rejected.append((target, 400 if invocation is None else 404))
            await _answer(writer, 400, b'{"errorType":"InvalidRequestID"}')
            return
        assert invocation is not None
        if invocation.answer.done():
            self.rejected.append((target, 400))
            await _answer(writer, 400, b'{"errorType":"InvalidStateTransition"}')
            return
        posted.kind = parts[2]
        invocation.answer.set_result(posted)
        await _answer(writer, 202, b'{"status":"OK"}')


async def _read_fields(reader: asyncio.StreamReader) -> dict[str, str]:
    fields: dict[str, str] = {}
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            return fields
        name, _, value = line.decode("latin-1").partition(":")
        fields[name.strip().lower()] = value.strip()


async def _read_body(
    reader: asyncio.StreamReader,
    headers: dict[str, str],
    chunk_queue: asyncio.Queue[tuple[float, bytes]] | None,
) -> Posted:
    if headers.get("transfer-encoding", "").lower() != "chunked":
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        return Posted("", headers, body)
    chunks: list[tuple[float, bytes]] = []
    while True:
        size_line = await reader.readline()
        size = int(size_line.split(b";")[0].strip(), 16)
        if size == 0:
            trailers = await _read_fields(reader)
            break
        data = await reader.readexactly(size)
        await reader.readexactly(2)
        chunk = (time.monotonic(), data)
        chunks.append(chunk)
        if chunk_queue is not None:
            chunk_queue.put_nowait(chunk)
    return Posted("", headers, b"".join(data for _, data in chunks), chunks, trailers)


async def _answer(
    writer: asyncio.StreamWriter, status: int, body: bytes, headers: dict[str, str] | None = None
) -> None:
    head = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}"]
    head += [f"{name}: {value}" for name, value in (headers or {}).items()]
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
    await writer.drain()

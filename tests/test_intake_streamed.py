"""The intake endpoint's streamed answers: chunked framing, each piece as it comes, an
abort without the last chunk, and a peer that goes away while the body waits."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator

from lambdaroute.intake import IntakeEndpoint
from lambdaroute.intake_types import (
    TOKEN_HEADER,
    LoopbackAnswer,
    PendingWork,
    ReceivedBody,
    StreamAborted,
    StreamedAnswer,
)


class StreamingWork:
    def __init__(self, *, fail: bool = False) -> None:
        self.release = asyncio.Event()
        self.fail = fail
        self.closed = asyncio.Event()
        self.work = PendingWork(100, True, lambda: None, self._answer, self._refuse)

    async def _body(self) -> AsyncGenerator[bytes, None]:
        try:
            yield b"one;"
            await self.release.wait()
            if self.fail:
                raise StreamAborted("broke")
            yield b"two"
        finally:
            self.closed.set()

    async def _answer(self, body: ReceivedBody) -> StreamedAnswer:
        return StreamedAnswer(200, "OK", (("Content-Type", "text/plain"),), self._body())

    def _refuse(self, size: int | None) -> LoopbackAnswer:
        raise AssertionError("not refused")


async def start(
    work: StreamingWork,
) -> tuple[IntakeEndpoint, asyncio.StreamReader, asyncio.StreamWriter]:
    endpoint = IntakeEndpoint()
    await endpoint.start()
    token = endpoint.register(work.work)
    assert endpoint.port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", endpoint.port)
    writer.write(f"GET / HTTP/1.1\r\n{TOKEN_HEADER}: {token}\r\n\r\n".encode())
    return endpoint, reader, writer


async def test_pieces_are_written_chunked_as_they_come() -> None:
    work = StreamingWork()
    endpoint, reader, writer = await start(work)
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"Transfer-Encoding: chunked\r\n" in head and b"Content-Length" not in head
    # the first piece is here while the body still waits for the second
    assert await reader.readexactly(len(b"4\r\none;\r\n")) == b"4\r\none;\r\n"
    work.release.set()
    assert await reader.read() == b"3\r\ntwo\r\n0\r\n\r\n"
    assert work.closed.is_set()
    writer.close()
    endpoint.close()


async def test_an_aborted_body_never_sends_the_last_chunk() -> None:
    work = StreamingWork(fail=True)
    endpoint, reader, writer = await start(work)
    await reader.readuntil(b"\r\n\r\n")
    work.release.set()
    rest = b""
    with contextlib.suppress(ConnectionResetError):  # an abort may arrive as a reset
        rest = await reader.read()
    assert not rest.endswith(b"0\r\n\r\n")
    assert rest in (b"", b"4\r\none;\r\n")
    writer.close()
    endpoint.close()


async def test_a_peer_going_away_closes_a_waiting_body() -> None:
    work = StreamingWork()
    endpoint, reader, writer = await start(work)
    await reader.readuntil(b"\r\n\r\n")
    await reader.readexactly(len(b"4\r\none;\r\n"))
    writer.close()  # mitmproxy closes the connection when its client goes away
    await asyncio.wait_for(work.closed.wait(), 10)
    endpoint.close()

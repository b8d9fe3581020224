"""One HTTP/1.1 exchange whose response body is read as it arrives, with bounded memory.

``http_client.HttpClient`` reads whole responses (the Invoke call's shape). A streamed
answer takes a connection from it instead (``PostTarget.hand_over``: its pool, DNS cache,
TLS context and proxy tunnel) and parses the response with h11 (a dependency of
mitmproxy): status line, headers, Content-Length / chunked / read-until-close framing.
Body pieces wait in a queue for the reader; past ``HIGH_WATER`` queued bytes the socket
stops being read until the reader catches up, so a fast server and a slow reader never
hold more than that (plus one socket read). The connection is closed after the exchange.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Mapping

import h11

from ..http_client import PostTarget
from ..http_errors import (
    HttpError,
    IncompleteBodyError,
    MalformedResponseError,
    ServerDisconnectedError,
)

#: queued body bytes above which the socket is paused
HIGH_WATER = 256 * 1024
#: bound on the response head
MAX_HEAD_BYTES = 256 * 1024


class _StreamProtocol(asyncio.Protocol):
    def __init__(self, loop: asyncio.AbstractEventLoop, host: str) -> None:
        self._parser = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD_BYTES)
        self._host = host
        self.transport: asyncio.Transport | None = None
        self.head: asyncio.Future[h11.Response] = loop.create_future()
        self._pieces: deque[bytes] = deque()
        self._queued = 0
        self._paused = False
        self._ended = False
        self._error: HttpError | None = None
        self._wakeup: asyncio.Future[None] | None = None
        self._loop = loop

    def start(
        self, transport: asyncio.Transport, head: str, headers: Mapping[str, str], body: bytes
    ) -> None:
        """Take over ``transport`` and write the request. h11 is told about the request
        (for its state and the response's framing); the bytes sent are the transport's
        precomputed head, which may be absolute-form for a proxy."""
        self.transport = transport
        transport.set_protocol(self)
        self._parser.send(
            h11.Request(
                method="POST",
                target="/",
                headers=[("Host", self._host), ("Content-Length", str(len(body)))],
            )
        )
        self._parser.send(h11.Data(data=body))
        self._parser.send(h11.EndOfMessage())
        lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        request = f"{head}{lines}Content-Length: {len(body)}\r\n\r\n".encode()
        transport.writelines((request, body) if body else (request,))

    # -- asyncio.Protocol ------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        self._feed(data)

    def eof_received(self) -> bool | None:
        self._feed(b"")
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._ended and self._error is None:
            self._feed(b"")  # h11 decides: a clean end (read-until-close) or a cut-short one
        if not self._ended and self._error is None:
            self._fail(IncompleteBodyError("the connection was lost"))

    # -- parsing -----------------------------------------------------------------------------

    def _feed(self, data: bytes) -> None:
        if self._ended or self._error is not None:
            return
        try:
            self._parser.receive_data(data)
            while True:
                event = self._parser.next_event()
                if event is h11.NEED_DATA or event is h11.PAUSED:
                    return
                if isinstance(event, h11.Response):
                    self.head.set_result(event)
                elif isinstance(event, h11.Data):
                    piece = bytes(event.data)
                    self._pieces.append(piece)
                    self._queued += len(piece)
                    if self._queued > HIGH_WATER and not self._paused and self.transport:
                        self._paused = True
                        self.transport.pause_reading()
                    self._wake()
                elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                    if not self.head.done():
                        self._fail(ServerDisconnectedError("the server closed the connection"))
                        return
                    self._ended = True
                    self._wake()
                    return
        except h11.RemoteProtocolError as exc:
            if not data:  # the peer closed the connection early
                if self.head.done():
                    self._fail(IncompleteBodyError(f"the response body was cut short: {exc}"))
                else:
                    self._fail(ServerDisconnectedError("the server closed the connection"))
            else:
                self._fail(MalformedResponseError(str(exc)))

    def _fail(self, error: HttpError) -> None:
        self._error = error
        if not self.head.done():
            self.head.set_exception(error)
        self._wake()
        if self.transport is not None:
            self.transport.abort()

    def _wake(self) -> None:
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    async def next_piece(self) -> bytes | None:
        """The next body piece; None at the end. Raises the exchange's HttpError."""
        while not self._pieces:
            if self._error is not None:
                raise self._error
            if self._ended:
                return None
            self._wakeup = self._loop.create_future()
            await self._wakeup
        piece = self._pieces.popleft()
        self._queued -= len(piece)
        if self._paused and self._queued <= HIGH_WATER // 2 and self.transport:
            self._paused = False
            self.transport.resume_reading()
        return piece


class StreamedResponse:
    """A response whose head has arrived; iterate it for the body pieces."""

    def __init__(self, protocol: _StreamProtocol, head: h11.Response) -> None:
        self._protocol = protocol
        self.status: int = head.status_code
        self.reason = head.reason.decode("latin-1")
        self.headers: tuple[tuple[str, str], ...] = tuple(
            (name.decode("latin-1"), value.decode("latin-1")) for name, value in head.headers
        )

    def header(self, name: str) -> str | None:
        lower = name.lower()
        return next((value for key, value in self.headers if key.lower() == lower), None)

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._pieces()

    async def _pieces(self) -> AsyncIterator[bytes]:
        while (piece := await self._protocol.next_piece()) is not None:
            yield piece

    async def read(self, limit: int) -> bytes:
        """The body up to ``limit`` bytes (an error answer's); the rest is dropped."""
        parts: list[bytes] = []
        size = 0
        async for piece in self:
            if size < limit:
                parts.append(piece[: limit - size])
                size += len(parts[-1])
        return b"".join(parts)

    def close(self) -> None:
        """Close the connection (at the end, or to abandon the stream)."""
        transport = self._protocol.transport
        if transport is not None:
            transport.abort()


async def post_streamed(
    target: PostTarget, host_header: str, headers: Mapping[str, str], body: bytes
) -> StreamedResponse:
    """POST on a connection handed over by ``target``; returns once the head arrived
    (1xx interim responses skipped). Raises an ``HttpError`` subclass; a cancelled call
    aborts its connection."""
    loop = asyncio.get_running_loop()
    transport, head = await target.hand_over()
    protocol = _StreamProtocol(loop, host_header)
    try:
        protocol.start(transport, head, headers, body)
        if transport.is_closing():
            raise ServerDisconnectedError("the server closed the connection")
        response = await protocol.head
    except BaseException:
        transport.abort()
        raise
    return StreamedResponse(protocol, response)

"""The HTTP/1.1 server under the Runtime API: asyncio streams and h11.

aiohttp's server decodes a chunked body but drops its trailers, and a streaming-mode
response carries its error in trailers (``Lambda-Runtime-Function-Error-Type`` / ``-Body``);
h11 hands them over. A request body is read as it arrives (``HttpRequest.chunks``), so a
streamed response is passed on chunk by chunk and never held whole; a handler that does not
read the body has it drained before its answer goes out. Keep-alive and
``Expect: 100-continue`` (curl sends it for larger bodies) are handled here.

An answer marked ``hold`` (the Runtime API's 202) is held back while the client has already
pipelined its next request, and goes out in the same write as the next answer: our Node.js
bootstrap sends its response and its next ``/next`` together, so an invocation costs one
send each way instead of two (a send on loopback, waking the peer, is the dearest thing
here). Held bytes go out before anything else is written and before the server waits for
input, so a client that does not pipeline gets every answer at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus

import h11

READ_SIZE = 65536
MAX_HEAD = 1024 * 1024
"""Bytes of a request head or trailer block (an error body in a trailer can be long)."""


class BodyBroken(Exception):
    """The connection ended (or broke the protocol) before the request body did."""


@dataclass(slots=True)
class HttpAnswer:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    hold: bool = False
    """May wait for the answer to a request the client has already pipelined."""


@dataclass(slots=True, eq=False)
class _Link:
    """One connection: its h11 state, its streams, and the bytes of a held answer."""

    conn: h11.Connection
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    held: bytes = b""

    def write(self, data: bytes) -> None:
        self.writer.write(self.held + data)
        self.held = b""

    async def next_event(self) -> object:
        while True:
            event = self.conn.next_event()
            if event is not h11.NEED_DATA:
                return event
            if self.held:
                self.write(b"")
            self.conn.receive_data(await self.reader.read(READ_SIZE))


@dataclass(slots=True, eq=False)
class HttpRequest:
    method: str
    path: str
    headers: dict[str, str]
    """Lower-case names."""
    trailers: dict[str, str] = field(default_factory=dict)
    """Lower-case names; set once the body has been read to its end."""
    _link: _Link | None = None
    _ended: bool = False

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body's pieces as they arrive; raises BodyBroken if it is cut short."""
        link = self._link
        assert link is not None
        if self._ended:
            return
        if link.conn.they_are_waiting_for_100_continue:
            link.write(_bytes(link.conn, h11.InformationalResponse(status_code=100, headers=[])))
        while True:
            try:
                event = await link.next_event()
            except (h11.RemoteProtocolError, ConnectionError) as exc:
                raise BodyBroken(str(exc)) from None
            if isinstance(event, h11.Data):
                yield bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                self.trailers = _fields(event.headers)
                self._ended = True
                return
            else:
                raise BodyBroken("the connection closed before the end of the body")

    async def read(self, limit: int) -> bytes | None:
        """The whole body, or None (after reading it to its end) if it is over ``limit``."""
        pieces: list[bytes] = []
        size = 0
        async for piece in self.chunks():
            size += len(piece)
            if size <= limit:
                pieces.append(piece)
            elif pieces:
                pieces.clear()
        return None if size > limit else b"".join(pieces)


Handler = Callable[[HttpRequest], Awaitable[HttpAnswer]]


async def serve_connection(
    handler: Handler, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """Serve one keep-alive connection until the client closes it (or breaks the protocol)."""
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD)
    link = _Link(conn, reader, writer)
    try:
        while True:
            try:
                event = await link.next_event()
            except h11.RemoteProtocolError:
                if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                    await _send(link, HttpAnswer(400, b"Bad Request"))
                return
            if not isinstance(event, h11.Request):
                return
            request = HttpRequest(
                event.method.decode("ascii"),
                event.target.decode("ascii", "replace"),
                _fields(event.headers),
                _link=link,
            )
            answer = await handler(request)
            async for _ in request.chunks():
                pass
            await _send(link, answer)
            if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                return
            conn.start_next_cycle()
    except (BodyBroken, ConnectionError, h11.LocalProtocolError):
        return
    finally:
        if link.held and not writer.is_closing():
            link.write(b"")
        writer.close()


async def _send(link: _Link, answer: HttpAnswer) -> None:
    """The whole answer in one write (or held, see the module's docstring): each send on
    loopback costs a syscall and a wake-up of the peer."""
    conn = link.conn
    headers = [(name.encode(), value.encode()) for name, value in answer.headers.items()]
    headers.append((b"content-length", str(len(answer.body)).encode()))
    try:
        reason = HTTPStatus(answer.status).phrase.encode()
    except ValueError:
        reason = b""
    head = _bytes(conn, h11.Response(status_code=answer.status, headers=headers, reason=reason))
    body = _bytes(conn, h11.Data(data=answer.body)) if answer.body else b""
    data = head + body + _bytes(conn, h11.EndOfMessage())
    if answer.hold and conn.our_state is h11.DONE and conn.their_state is h11.DONE:
        link.held += data
        return
    link.write(data)
    await link.writer.drain()


def _bytes(conn: h11.Connection, event: h11.Event) -> bytes:
    data = conn.send(event)
    assert data is not None  # None only for ConnectionClosed, which is never sent here
    return data


def _fields(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    return {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in raw}

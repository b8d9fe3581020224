"""The HTTP/1.1 server under the Runtime API: a small parser on asyncio streams.

aiohttp's server decodes a chunked body but drops its trailers, and a streaming-mode
response carries its error in trailers (``Lambda-Runtime-Function-Error-Type`` / ``-Body``).
h11 keeps them but cost some 85 us of CPU per invocation (a ``/next`` and a response with
their answers), a sixth of the server's CPU for a Runtime API invocation; this parser reads
the subset of HTTP/1.1 that Runtime API clients send (a request line, headers with obsolete
line folding, a Content-Length or chunked body with trailers) in a fraction of that, and
answers anything else with 400. A request body is read as it arrives
(``HttpRequest.chunks``), so a streamed response is passed on chunk by chunk and never held
whole; a handler that does not read the body has it drained before its answer goes out.
Keep-alive (HTTP/1.1 without ``Connection: close``) and ``Expect: 100-continue`` (curl sends
it for larger bodies) are handled here.

An answer marked ``hold`` (the Runtime API's 202) is held back while the client has already
pipelined its next request, and goes out in the same write as the next answer: our Node.js
bootstrap sends its response and its next ``/next`` together, so an invocation costs one
send each way instead of two (a send on loopback, waking the peer, is the dearest thing
here). Held bytes go out before anything else is written and before the server waits for
input, so a client that does not pipeline gets every answer at once.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus

READ_SIZE = 65536
MAX_HEAD = 1024 * 1024
"""Bytes of a request head or trailer block (an error body in a trailer can be long)."""

_REQUEST_LINE = re.compile(rb"([!#$%&'*+.^_`|~0-9A-Za-z-]+) ([\x21-\x7e]+) HTTP/1\.([01])")
_FIELD = re.compile(rb"([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*(.*?)[ \t]*")
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,16})[ \t]*(?:;.*)?")
_REASONS = {status.value: status.phrase for status in HTTPStatus}
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class BodyBroken(Exception):
    """The connection ended (or broke the protocol) before the request body did."""


class _BadRequest(Exception):
    """The client broke the protocol."""


class _Unsendable(Exception):
    """An answer's header holds a line break (it would break the framing)."""


@dataclass(slots=True)
class HttpAnswer:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    hold: bool = False
    """May wait for the answer to a request the client has already pipelined."""


@dataclass(slots=True, eq=False)
class _Link:
    """One connection: its streams, the bytes read and not yet parsed, a held answer."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    buffer: bytes = b""
    held: bytes = b""

    def write(self, data: bytes) -> None:
        self.writer.write(self.held + data)
        self.held = b""

    async def fill(self) -> bool:
        """Read more input (a held answer goes out first); False at its end."""
        if self.held:
            self.write(b"")
        data = await self.reader.read(READ_SIZE)
        if not data:
            return False
        self.buffer = self.buffer + data if self.buffer else data
        return True

    async def line(self, limit: int) -> bytes | None:
        """The next line without its CRLF (or LF); None at the end of input."""
        start = 0
        while (end := self.buffer.find(b"\n", start)) < 0:
            if len(self.buffer) > limit:
                raise _BadRequest("line too long")
            start = len(self.buffer)
            if not await self.fill():
                if self.buffer:
                    raise _BadRequest("the connection closed within a line")
                return None
        line, self.buffer = self.buffer[:end], self.buffer[end + 1 :]
        return line[:-1] if line.endswith(b"\r") else line

    async def fields(self) -> dict[str, str]:
        """Header (or trailer) lines up to the empty line: lower-case names, latin-1."""
        fields: dict[str, str] = {}
        budget = MAX_HEAD
        name = ""
        while line := await self.line(budget):
            budget -= len(line) + 2
            if budget < 0:
                raise _BadRequest("header block too long")
            if line[0] in b" \t" and name:  # obsolete line folding
                fields[name] += " " + line.strip(b" \t").decode("latin-1")
                continue
            match = _FIELD.fullmatch(line)
            if match is None:
                raise _BadRequest("malformed header line")
            name = match[1].decode("latin-1").lower()
            fields[name] = match[2].decode("latin-1")
        if line is None:
            raise _BadRequest("the connection closed within a header block")
        return fields


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
    _left: int = 0
    """Bytes of the body (fixed length) or of the current chunk still to come."""
    _chunked: bool = False
    _chunk_end: bool = False
    """Chunked: the CRLF after a chunk's data is still to come."""
    _continue: bool = False
    _keep_alive: bool = True

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body's pieces as they arrive; raises BodyBroken if it is cut short."""
        link = self._link
        assert link is not None
        if self._continue and not link.buffer:
            link.write(_CONTINUE)
        self._continue = False
        try:
            while not self._ended:
                if self._left:
                    if not link.buffer and not await link.fill():
                        raise BodyBroken("the connection closed before the end of the body")
                    piece, link.buffer = link.buffer[: self._left], link.buffer[self._left :]
                    self._left -= len(piece)
                    self._chunk_end = self._chunked
                    yield piece
                elif self._chunked:
                    await self._next_chunk(link)
                else:
                    self._ended = True
        except _BadRequest as exc:
            raise BodyBroken(str(exc)) from None

    async def _next_chunk(self, link: _Link) -> None:
        if self._chunk_end:
            if await link.line(2) != b"":
                raise _BadRequest("no CRLF after a chunk")
            self._chunk_end = False
        size_line = await link.line(MAX_HEAD)
        match = _CHUNK_SIZE.fullmatch(size_line) if size_line is not None else None
        if match is None:
            raise _BadRequest("malformed chunk size")
        self._left = int(match[1], 16)
        if self._left == 0:
            self.trailers = await link.fields()
            self._ended = True

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


async def _read_request(link: _Link) -> HttpRequest | None:
    """The next request's head (None if the client closed the connection between requests)."""
    line = await link.line(MAX_HEAD)
    while line == b"":  # empty lines before a request line are ignored (RFC 9112 2.2)
        line = await link.line(MAX_HEAD)
    if line is None:
        return None
    match = _REQUEST_LINE.fullmatch(line)
    if match is None:
        raise _BadRequest("malformed request line")
    headers = await link.fields()
    request = HttpRequest(
        match[1].decode("ascii"), match[2].decode("ascii", "replace"), headers, _link=link
    )
    connection = headers.get("connection", "").lower()
    request._keep_alive = match[3] == b"1" and "close" not in connection
    transfer_encoding = headers.get("transfer-encoding")
    length = headers.get("content-length")
    if transfer_encoding is not None:
        if transfer_encoding.lower() != "chunked":
            raise _BadRequest("unsupported transfer encoding")
        request._chunked = True
    elif length is not None:
        if not (length.isascii() and length.isdigit()):
            raise _BadRequest("malformed content-length")
        request._left = int(length)
    request._ended = not (request._chunked or request._left)
    request._continue = not request._ended and headers.get("expect", "").lower() == "100-continue"
    return request


async def serve_connection(
    handler: Handler, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """Serve one keep-alive connection until the client closes it (or breaks the protocol)."""
    link = _Link(reader, writer)
    try:
        while True:
            try:
                request = await _read_request(link)
            except _BadRequest:
                await _send(link, HttpAnswer(400, b"Bad Request"), keep_alive=False)
                return
            if request is None:
                return
            answer = await handler(request)
            async for _ in request.chunks():
                pass
            await _send(link, answer, request._keep_alive)
            if not request._keep_alive:
                return
    except (BodyBroken, ConnectionError, _Unsendable):
        return
    finally:
        if link.held and not writer.is_closing():
            link.write(b"")
        writer.close()


async def _send(link: _Link, answer: HttpAnswer, keep_alive: bool) -> None:
    """The whole answer in one write (or held, see the module's docstring): each send on
    loopback costs a syscall and a wake-up of the peer."""
    head = [f"HTTP/1.1 {answer.status} {_REASONS.get(answer.status, '')}\r\n"]
    for name, value in answer.headers.items():
        if "\n" in value or "\r" in value or "\n" in name or "\r" in name:
            raise _Unsendable(name)
        head.append(f"{name}: {value}\r\n")
    head.append(f"content-length: {len(answer.body)}\r\n")
    if not keep_alive:
        head.append("connection: close\r\n")
    head.append("\r\n")
    data = "".join(head).encode() + answer.body
    if answer.hold and keep_alive:
        link.held += data
        return
    link.write(data)
    await link.writer.drain()

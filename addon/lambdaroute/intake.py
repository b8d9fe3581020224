"""The addon's loopback endpoint: where routed flows with a large or unknown-size body go.

mitmproxy decides to stream a request body to "the server" both before ``requestheaders``
(a Content-Length over ``stream_large_bodies``) and while the body arrives
(``check_body_size``), and it cannot stream into a flow whose response an addon has set.
So a routed flow whose body may not fit in memory is pointed at this endpoint, an asyncio
server on 127.0.0.1 owned by the addon: whatever mitmproxy streams comes here, never to
the upstream, and is read within bounds (kept up to a limit, else dropped or refused with
an early answer).

The seam: the addon ``register``s a ``PendingWork`` and puts the token it gets in the
request's ``TOKEN_HEADER``; the endpoint looks the work up by that token and calls back
(``arrived`` once the head is here, ``answer`` with the body, ``refuse`` when the body is
over the limit and may not be dropped) and writes the ``LoopbackAnswer`` it gets back as
the HTTP response mitmproxy reads for the flow. A ``StreamedAnswer`` (a Lambda response
stream) is written chunked, each piece as it comes; mitmproxy relays it to the client as
it arrives once ``flow.response.stream`` is set in ``responseheaders``. A body that fails
(``StreamAborted``) ends with the connection aborted, no last chunk: mitmproxy then ends
the client's response without a clean end (HTTP/1: the connection closes mid-body;
HTTP/2: the stream is reset). Each piece waits for the socket to drain, so a slow client
holds back the stream (bounded memory) instead of piling it up here.

One request per connection (the answer says ``Connection: close``): only flows with big
bodies or streamed answers come here, so a connection set-up is noise.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

logger = logging.getLogger(__name__)

#: the request header that carries a pending work's token to the endpoint
TOKEN_HEADER = "x-lambda-route-intake"
#: bound on a request head, and on one chunk-size line
MAX_HEAD_BYTES = 256 * 1024
_READ_SIZE = 256 * 1024
_FRAMING = frozenset({b"content-length", b"transfer-encoding", b"connection"})


@dataclass(frozen=True, slots=True)
class LoopbackAnswer:
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    body: bytes


class StreamAborted(Exception):
    """Raised by a ``StreamedAnswer``'s body: end the response without a clean end."""


@dataclass(frozen=True, slots=True)
class StreamedAnswer:
    """An answer whose body is relayed piece by piece (closed when the relay ends)."""

    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    body: AsyncGenerator[bytes, None]


@dataclass(frozen=True, slots=True)
class ReceivedBody:
    #: the body, or ``b""`` when it was dropped
    data: bytes
    #: its size as received (also when dropped)
    size: int
    dropped: bool


@dataclass(slots=True)
class PendingWork:
    """What the addon wants done with one flow's body, and its callbacks."""

    #: at most this many body bytes are kept
    keep_up_to: int
    #: over ``keep_up_to``: True drops the body (it is read and discarded), False refuses it
    drop_over_limit: bool
    arrived: Callable[[], None]
    answer: Callable[[ReceivedBody], Awaitable[LoopbackAnswer | StreamedAnswer]]
    refuse: Callable[[int | None], LoopbackAnswer]


class _BadRequest(Exception):
    pass


class IntakeEndpoint:
    def __init__(self) -> None:
        self._pending: dict[str, PendingWork] = {}
        self._server: asyncio.Server | None = None
        self._listener: socket.socket | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._starting: asyncio.Future[None] | None = None
        self.port: int | None = None

    def bind(self) -> int:
        """Take a port on 127.0.0.1 now (once), so that flows can be pointed here at once:
        connections made before ``start`` wait in the listen backlog."""
        if self.port is None:
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.bind(("127.0.0.1", 0))
            listener.listen(256)
            listener.setblocking(False)
            self._listener = listener
            self.port = listener.getsockname()[1]
        return self.port

    async def start(self) -> int:
        """Listen, once: callers that come while it starts share that start. The port."""
        port = self.bind()
        if self._starting is None:
            self._starting = asyncio.ensure_future(self._listen())
        await asyncio.shield(self._starting)
        return port

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(
            self._serve, sock=self._listener, limit=MAX_HEAD_BYTES
        )

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
        elif self._listener is not None:
            self._listener.close()
        self._server, self._listener = None, None
        if self._starting is not None and not self._starting.done():
            self._starting.cancel()
        self._starting = None
        for task in list(self._connections):
            task.cancel()
        self._pending.clear()
        self.port = None

    def register(self, work: PendingWork) -> str:
        token = os.urandom(16).hex()
        self._pending[token] = work
        return token

    def forget(self, token: str) -> None:
        """The flow ended before its request reached the endpoint."""
        self._pending.pop(token, None)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        try:
            await self._handle(reader, writer)
        except (_BadRequest, asyncio.LimitOverrunError, ValueError) as err:
            logger.warning(f"lambda-route intake: bad request from mitmproxy: {err}")
            _write(writer, "GET", LoopbackAnswer(400, "Bad Request", (), b""))
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # mitmproxy gave up on the flow (the client went away)
        finally:
            if task is not None:
                self._connections.discard(task)
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        request_line, *lines = head[:-4].split(b"\r\n")
        method = request_line.split(b" ", 1)[0].decode("ascii", "replace")
        token = ""
        length: int | None = None
        chunked = False
        for line in lines:
            name, _, value = line.partition(b":")
            name, value = name.strip().lower(), value.strip()
            if name == TOKEN_HEADER.encode():
                token = value.decode("ascii", "replace")
            elif name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = value.lower().endswith(b"chunked")
        work = self._pending.pop(token, None)
        if work is None:
            # not a flow the addon sent here: nothing to answer it with
            _write(writer, method, LoopbackAnswer(403, "Forbidden", (), b""))
            return
        work.arrived()
        sink = _Sink(work.keep_up_to, work.drop_over_limit)
        refused = False
        if length is not None and not chunked and sink.refuses(length):
            _write(writer, method, work.refuse(length))
            refused = True
        pieces = _chunked_pieces(reader) if chunked else _length_pieces(reader, length or 0)
        async for piece in pieces:
            sink.feed(piece)
            if sink.refused and not refused:
                _write(writer, method, work.refuse(None))
                refused = True
        if refused:
            await writer.drain()
            return
        answer = await work.answer(ReceivedBody(sink.body(), sink.size, sink.dropped))
        if isinstance(answer, StreamedAnswer):
            await _relay(reader, writer, method, answer)
            return
        _write(writer, method, answer)
        await writer.drain()


class _Sink:
    """Keeps body pieces up to a limit; past it, drops them or marks the body refused."""

    __slots__ = ("_drop", "_keep_up_to", "_parts", "dropped", "refused", "size")

    def __init__(self, keep_up_to: int, drop_over_limit: bool) -> None:
        self._keep_up_to = keep_up_to
        self._drop = drop_over_limit
        self._parts: list[bytes] = []
        self.size = 0
        self.dropped = False
        self.refused = False

    def refuses(self, size: int) -> bool:
        """A body of ``size`` bytes is refused (known from Content-Length before reading)."""
        if size > self._keep_up_to and not self._drop:
            self.refused = True
        return self.refused

    def feed(self, piece: bytes) -> None:
        self.size += len(piece)
        if self.dropped or self.refused:
            return
        if self.size > self._keep_up_to:
            self._parts.clear()
            if self._drop:
                self.dropped = True
            else:
                self.refused = True
            return
        self._parts.append(piece)

    def body(self) -> bytes:
        return b"".join(self._parts)


async def _length_pieces(reader: asyncio.StreamReader, length: int) -> AsyncIterator[bytes]:
    while length > 0:
        piece = await reader.read(min(length, _READ_SIZE))
        if not piece:
            raise asyncio.IncompleteReadError(b"", length)
        length -= len(piece)
        yield piece


async def _chunked_pieces(reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
    while True:
        line = await reader.readuntil(b"\r\n")
        size_text = line.split(b";", 1)[0].strip()
        if not size_text or len(size_text) > 16:
            raise _BadRequest(f"bad chunk size line {line[:40]!r}")
        size = int(size_text, 16)
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":
                pass  # trailer fields: not used
            return
        async for piece in _length_pieces(reader, size):
            yield piece
        if await reader.readexactly(2) != b"\r\n":
            raise _BadRequest("chunk data longer than its size")


def _write(writer: asyncio.StreamWriter, method: str, answer: LoopbackAnswer) -> None:
    """The answer as an HTTP/1.1 response: its own framing, one request per connection."""
    no_body = _no_body(answer.status)
    framing = b"" if no_body else f"Content-Length: {len(answer.body)}".encode()
    writer.write(_head(answer.status, answer.reason, answer.headers, framing))
    if answer.body and not no_body and method != "HEAD":
        writer.write(answer.body)


async def _relay(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, method: str, answer: StreamedAnswer
) -> None:
    """Write a streamed answer chunked, each piece as soon as the body yields it; stop
    when mitmproxy closes the connection (its client went away), also while the body is
    waiting for its next piece."""
    body = answer.body
    pump = asyncio.ensure_future(_pump(writer, method, answer))
    gone = asyncio.ensure_future(_closed_by_peer(reader))
    try:
        await asyncio.wait((pump, gone), return_when=asyncio.FIRST_COMPLETED)
        if not pump.done():
            pump.cancel()
        try:
            await pump
        except asyncio.CancelledError:
            if not gone.done():
                raise  # we are being cancelled ourselves
    finally:
        gone.cancel()
        pump.cancel()
        await body.aclose()


async def _pump(writer: asyncio.StreamWriter, method: str, answer: StreamedAnswer) -> None:
    has_body = not _no_body(answer.status) and method != "HEAD"
    framing = b"Transfer-Encoding: chunked" if has_body else b""
    writer.write(_head(answer.status, answer.reason, answer.headers, framing))
    await writer.drain()
    if not has_body:
        return
    try:
        async for piece in answer.body:
            if piece:
                writer.writelines((b"%x\r\n" % len(piece), piece, b"\r\n"))
                await writer.drain()
    except StreamAborted:
        writer.transport.abort()
        return
    writer.write(b"0\r\n\r\n")
    await writer.drain()


async def _closed_by_peer(reader: asyncio.StreamReader) -> None:
    """Returns once mitmproxy closed the connection (it sends nothing after the request)."""
    try:
        while await reader.read(_READ_SIZE):
            pass
    except ConnectionError:
        pass


def _no_body(status: int) -> bool:
    return status in (204, 304) or status < 200


def _head(status: int, reason: str, headers: tuple[tuple[str, str], ...], framing: bytes) -> bytes:
    lines = [f"HTTP/1.1 {status} {reason}".encode("ascii", "replace")]
    for name, value in headers:
        raw_name = name.encode("utf-8", "surrogateescape")
        if raw_name.lower() not in _FRAMING:
            lines.append(raw_name + b": " + value.encode("utf-8", "surrogateescape"))
    if framing:
        lines.append(framing)
    lines.append(b"Connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n"

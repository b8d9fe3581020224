"""One pooled HTTP/1.1 connection: an asyncio protocol that writes a request and resolves
a future with its whole response (parsed by ``http_parser.ResponseParser``)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from .http_errors import (
    ClientClosedError,
    HttpError,
    IncompleteBodyError,
    MalformedResponseError,
    ResponseTooLargeError,
    ServerDisconnectedError,
)
from .http_parser import (
    CHUNK_SIZE,
    HEAD,
    IDLE,
    LENGTH,
    UNTIL_CLOSE,
    HttpResponse,
    Malformed,
    ResponseParser,
    TooLarge,
)

if TYPE_CHECKING:
    from .http_pool import Pool


class Connection(ResponseParser, asyncio.Protocol):
    """One HTTP/1.1 connection: parses one response per request into ``waiter``."""

    __slots__ = ("_pool", "closed", "loop", "transport")

    def __init__(self, pool: Pool, loop: asyncio.AbstractEventLoop) -> None:
        self._pool = pool
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.reusable = True
        self._waiter = None
        self._state = IDLE
        self._head_only = False
        self._buf = bytearray()  # an incomplete head or chunk-framing line
        self._parts = []
        self._remaining = 0
        self._chunk_state = CHUNK_SIZE
        self._status = 0
        self._reason = ""
        self._headers = []
        self._body_left = 0

    # -- used by PostTarget / Pool ---------------------------------------------------------

    def send(
        self, data: tuple[bytes, ...], *, head_only: bool = False
    ) -> asyncio.Future[HttpResponse]:
        """Write one request; the future resolves with its response."""
        waiter: asyncio.Future[HttpResponse] = self.loop.create_future()
        if self.closed:  # lost before its first request: nothing would ever answer
            waiter.set_exception(
                ServerDisconnectedError("the server closed the connection", nothing_received=True)
            )
            return waiter
        self._waiter = waiter
        self._state = HEAD
        self._head_only = head_only
        assert self.transport is not None
        self.transport.writelines(data)
        return waiter

    def abort(self) -> None:
        self.reusable = False
        if self.transport is not None:
            self.transport.abort()

    def close(self) -> None:
        self.reusable = False
        waiter = self._waiter
        if waiter is not None and not waiter.done():  # only HttpClient.close closes these
            waiter.set_exception(ClientClosedError("the HTTP client was closed during the call"))
        if self.transport is not None:
            self.transport.close()

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.reusable = False
        self._pool.lost(self)
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        if self._state == UNTIL_CLOSE and exc is None:
            self._finish()
            return
        error: HttpError
        if self._state == HEAD:
            error = ServerDisconnectedError(
                "the server closed the connection", nothing_received=not self._buf
            )
        else:
            error = IncompleteBodyError(self._shortfall())
        if exc is not None:
            error.__cause__ = exc
        waiter.set_exception(error)

    def eof_received(self) -> bool | None:
        if self._state == UNTIL_CLOSE:
            self._finish()
        self.reusable = False
        return None  # close the transport; connection_lost reports a cut-short response

    def data_received(self, data: bytes) -> None:
        state = self._state
        try:
            if state == LENGTH:  # more of a big body: no parsing at all
                remaining = self._remaining
                if len(data) < remaining:
                    self._parts.append(data)
                    self._remaining = remaining - len(data)
                    return
            elif state == HEAD and not self._buf:  # the usual case: a whole head in one read
                end = data.find(b"\r\n\r\n")
                if end >= 0:
                    self._parse_head(data[:end])
                    data = data[end + 4 :]
                    if self._state == LENGTH and len(data) == self._remaining:
                        self._parts.append(data)
                        self._finish()
                        return
            self._feed(data)
        except Malformed as exc:
            self._fail(MalformedResponseError(str(exc)))
        except TooLarge:
            self._fail(ResponseTooLargeError(self._pool.max_body))

    def _fail(self, error: HttpError) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)
        self.abort()

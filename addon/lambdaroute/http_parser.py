"""The parsing half of ``http_connection.Connection`` (its base class: the per-read path
makes the same calls as in one class). Status line, headers as received (order, repeats,
names' case), body by ``Content-Length``, chunked (extensions and trailers consumed) or read
until close; 1xx interim responses are skipped. Body pieces are joined once."""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from .http_pool import Pool

#: bound on a response head (status line and headers); a longer one is malformed
MAX_HEAD_BYTES = 256 * 1024
#: bound on one chunk-size or trailer line of a chunked body
_MAX_LINE_BYTES = 64 * 1024
_HEX = re.compile(rb"[0-9A-Fa-f]{1,16}")
#: RFC 9110 token characters: a header name
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


class HttpResponse(NamedTuple):
    """One response. A NamedTuple, not a frozen dataclass: one is built per call, and a
    frozen dataclass pays an ``object.__setattr__`` per field."""

    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]  # as received: order, repeats and names' case kept
    body: bytes


class Malformed(Exception):
    pass


class TooLarge(Exception):
    pass


# parser states
IDLE, HEAD, LENGTH, CHUNKED, UNTIL_CLOSE = range(5)
# chunked sub-states
CHUNK_SIZE, CHUNK_DATA, CHUNK_END, TRAILER = range(4)


_VERSIONS = frozenset(("HTTP/1.1", "HTTP/1.0"))
#: the headers that frame the body or decide reuse (lower case)
_FRAMING = frozenset(("content-length", "transfer-encoding", "connection"))


def _is_number(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _fold(headers: list[tuple[str, str]], line: str) -> None:
    """An obsolete folded line continues the previous header's value; else it is malformed."""
    if not headers or line[:1] not in (" ", "\t"):
        raise Malformed(f"bad header line {line[:100]!r}")
    name, value = headers[-1]
    continuation = line.strip(" \t")
    headers[-1] = (name, f"{value} {continuation}" if value else continuation)


def _check_line_breaks(head: bytes) -> None:
    """Lines end with CRLF only: a bare CR or LF, or a NUL, inside the head would let a
    value become a header of its own at the client (``Set-Cookie`` injection)."""
    if b"\x00" in head:
        raise Malformed("NUL character in the response head")
    crlf = head.count(b"\r\n")
    if head.count(b"\n") != crlf or head.count(b"\r") != crlf:
        raise Malformed("bare CR or LF inside a response header line")


class ResponseParser:
    """The parser's state and steps; ``Connection`` adds the asyncio protocol around them."""

    __slots__ = (
        "_body_left",
        "_buf",
        "_chunk_state",
        "_head_only",
        "_headers",
        "_parts",
        "_reason",
        "_remaining",
        "_state",
        "_status",
        "_waiter",
        "reusable",
    )

    # all set by Connection.__init__ (one constructor for the slots of both classes)
    _pool: Pool
    transport: asyncio.Transport | None
    #: whether the connection can carry another request after this response
    reusable: bool
    _waiter: asyncio.Future[HttpResponse] | None
    _state: int
    _head_only: bool
    _buf: bytearray
    _parts: list[bytes]
    _remaining: int
    _chunk_state: int
    _status: int
    _reason: str
    _headers: list[tuple[str, str]]
    #: body bytes the response may still have before it exceeds the pool's max_body
    _body_left: int

    def _feed(self, data: bytes) -> None:
        while data:
            state = self._state
            if state == HEAD:
                data = self._feed_head(data)
            elif state == LENGTH:
                remaining = self._remaining
                if len(data) < remaining:
                    self._parts.append(data)
                    self._remaining = remaining - len(data)
                    return
                self._parts.append(data[:remaining] if len(data) > remaining else data)
                data = data[remaining:]
                self._finish()
            elif state == CHUNKED:
                data = self._feed_chunked(data)
            elif state == UNTIL_CLOSE:
                self._take_body(len(data))
                self._parts.append(data)
                return
            else:  # bytes nobody asked for: the connection is out of step
                self.reusable = False
                if self.transport is not None:
                    self.transport.close()
                return
        return

    def _feed_head(self, data: bytes) -> bytes:
        """Consume ``data`` up to the end of a head; returns what follows it."""
        buf = self._buf
        if buf:
            start = max(len(buf) - 3, 0)
            buf += data
            end = buf.find(b"\r\n\r\n", start)
            if end < 0:
                self._check_head_size()
                return b""
            head = bytes(buf[:end])
            rest = bytes(buf[end + 4 :])
            buf.clear()
        else:
            end = data.find(b"\r\n\r\n")
            if end < 0:
                buf += data
                self._check_head_size()
                return b""
            head = data[:end]
            rest = data[end + 4 :]
        self._parse_head(head)
        return rest

    def _check_head_size(self) -> None:
        if len(self._buf) > MAX_HEAD_BYTES:
            raise Malformed(f"the response head is longer than {MAX_HEAD_BYTES} bytes")

    def _parse_head(self, head: bytes) -> None:
        if len(head) > MAX_HEAD_BYTES:
            raise Malformed(f"the response head is longer than {MAX_HEAD_BYTES} bytes")
        _check_line_breaks(head)
        status_line, *lines = head.decode("utf-8", "surrogateescape").split("\r\n")
        version, _, rest = status_line.partition(" ")
        code, _, reason = rest.partition(" ")
        if version not in _VERSIONS or len(code) != 3 or not (code.isdigit() and code.isascii()):
            raise Malformed(f"bad status line {status_line[:100]!r}")
        status = int(code)
        headers: list[tuple[str, str]] = []
        framing: list[tuple[str, str]] = []  # (lower-case name, value) of _FRAMING headers
        for line in lines:
            name, colon, value = line.partition(":")
            if not colon or not name or name != name.strip():
                _fold(headers, line)
                continue
            if not _TOKEN.fullmatch(name):
                raise Malformed(f"bad header name {name[:100]!r}")
            value = value.strip(" \t")
            headers.append((name, value))
            if name.lower() in _FRAMING:
                framing.append((name.lower(), value))
        if status < 200 and not self._head_only:
            if status == 101:
                raise Malformed("unexpected 101 Switching Protocols")
            return  # an interim response: the real one follows
        self._status = status
        self._reason = reason
        self._headers = headers
        self._body_left = self._pool.max_body
        self._frame_body(status, version == "HTTP/1.1", framing)

    def _frame_body(self, status: int, keep_alive: bool, framing: list[tuple[str, str]]) -> None:
        """Where the body ends (RFC 9112 section 6.3), and whether the connection is reusable."""
        length: str | None = None
        transfer_encoding: str | None = None
        for name, value in framing:
            if name == "content-length":
                if "," in value:  # "5, 5": repeats folded into one line
                    values = {text.strip() for text in value.split(",")}
                    if len(values) != 1:
                        raise Malformed("conflicting Content-Length values")
                    value = values.pop()
                if length is not None and value != length:
                    raise Malformed("conflicting Content-Length values")
                length = value
            elif name == "transfer-encoding":
                transfer_encoding = f"{transfer_encoding},{value}" if transfer_encoding else value
            else:  # connection
                tokens = value.lower().replace(" ", "").split(",")
                if "close" in tokens:
                    keep_alive = False
                elif "keep-alive" in tokens:
                    keep_alive = True
        if not keep_alive:
            self.reusable = False
        if self._head_only or status in (204, 304):
            self._finish()
        elif transfer_encoding is not None:
            self.reusable = self.reusable and length is None  # both: smuggling-shaped, close
            codings = transfer_encoding.lower().replace(" ", "").split(",")
            if codings[-1] == "chunked":
                self._state = CHUNKED
                self._chunk_state = CHUNK_SIZE
            else:
                self._state = UNTIL_CLOSE
                self.reusable = False
        elif length is not None:
            if not _is_number(length) or len(length) > 18:
                raise Malformed(f"bad Content-Length {length[:40]!r}")
            self._remaining = int(length)
            self._take_body(self._remaining)  # a known length is checked once, up front
            if self._remaining:
                self._state = LENGTH
            else:
                self._finish()
        else:
            self._state = UNTIL_CLOSE
            self.reusable = False

    def _feed_chunked(self, data: bytes) -> bytes:
        """Consume chunked framing and data; returns what follows the body's end."""
        position, size = 0, len(data)
        while position < size:
            if self._chunk_state == CHUNK_DATA:
                take = min(self._remaining, size - position)
                self._parts.append(data[position : position + take])
                position += take
                self._remaining -= take
                if not self._remaining:
                    self._chunk_state = CHUNK_END
                continue
            newline = data.find(b"\n", position)
            if newline < 0:
                self._buf += data[position:]
                if len(self._buf) > _MAX_LINE_BYTES:
                    raise Malformed("a chunk framing line is too long")
                return b""
            line = data[position:newline]
            position = newline + 1
            if self._buf:
                line = bytes(self._buf) + line
                self._buf.clear()
            if line.endswith(b"\r"):
                line = line[:-1]
            if self._chunk_state == CHUNK_SIZE:
                size_text = line.split(b";", 1)[0].strip(b" \t")
                if not _HEX.fullmatch(size_text):
                    raise Malformed(f"bad chunk size line {line[:40]!r}")
                self._remaining = int(size_text, 16)
                self._take_body(self._remaining)
                self._chunk_state = CHUNK_DATA if self._remaining else TRAILER
            elif self._chunk_state == CHUNK_END:
                if line:
                    raise Malformed("chunk data longer than its size")
                self._chunk_state = CHUNK_SIZE
            elif not line:  # TRAILER: an empty line ends the body; trailer fields are dropped
                self._finish()
                return data[position:]
        return b""

    def _take_body(self, size: int) -> None:
        """Count ``size`` more body bytes against the cap; over it, the call fails."""
        self._body_left -= size
        if self._body_left < 0:
            raise TooLarge

    def _shortfall(self) -> str:
        received = sum(map(len, self._parts))
        if self._state == LENGTH:
            return f"got {received} of {received + self._remaining} body bytes"
        return f"the chunked body ended after {received} bytes"

    def _finish(self) -> None:
        parts = self._parts
        body = b"".join(parts) if parts else b""
        self._parts = []
        self._state = IDLE
        waiter = self._waiter
        self._waiter = None
        if waiter is not None and not waiter.done():
            waiter.set_result(HttpResponse(self._status, self._reason, tuple(self._headers), body))

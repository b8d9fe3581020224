"""A lean keep-alive HTTP/1.1 client on asyncio protocols, for the Invoke call.

Why not aiohttp's client: its ``ClientSession.post`` round trip costs about 150 us of CPU
per call against a loopback peer (request building, tracing hooks, cookie and redirect
machinery, a stream reader, a multidict), this client about 40 us and a bare
``asyncio.Protocol`` that checks nothing about 30 us (``scripts/bench_transport.py``); the
Invoke call is on every routed flow's path. This client does only what the call needs: a
POST with headers that are already signed, one response, keep-alive.

* ``HttpClient.post_target`` precomputes everything about one URL (pool, request line,
  proxy headers); ``PostTarget.post`` then takes an idle connection (or opens one), writes
  the request with one ``writelines`` and awaits one future that the protocol resolves
  with the whole response.
* Connections are pooled per (scheme, host, port, proxy) in one ``HttpClient`` (TLS
  verification is per client) and shared by every caller. There is no cap on connections:
  a call that finds no idle connection opens a new one. An idle connection is closed
  ``keepalive_s`` after its last use, or at once when the server closes it; one that is not
  cleanly reusable (``Connection: close``, read-until-close body, an error, a cancelled
  call) is closed instead of pooled. Nothing is ever retried.
* Responses: status line, headers as received (order, repeats, names' case), body by
  ``Content-Length``, chunked (extensions and trailers consumed) or read until close; 1xx
  interim responses are skipped. Body pieces are collected in a list and joined once.
* Host names are resolved once per ``DNS_TTL_S`` for all new connections (a burst opens
  hundreds), every address tried in turn.
* Proxies (``http://`` only): ``https`` targets through a ``CONNECT`` tunnel then TLS over
  it; ``http`` targets with an absolute-form request line. ``Proxy-Authorization: Basic``
  from the proxy URL's userinfo.

Every failure raises an ``HttpError`` subclass; the caller bounds the whole call with
``asyncio.timeout`` (a cancelled call aborts its connection).
"""

from __future__ import annotations

import asyncio
import base64
import functools
import ipaddress
import re
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

from yarl import URL

#: bound on a response head (status line and headers); a longer one is malformed
MAX_HEAD_BYTES = 256 * 1024
#: how long a host name's addresses are reused (as aiohttp's default DNS cache)
DNS_TTL_S = 10.0
#: bound on one chunk-size or trailer line of a chunked body
_MAX_LINE_BYTES = 64 * 1024
#: default bound on a response body: a little above Lambda's 6 MB synchronous limit
DEFAULT_MAX_BODY = 7 * 1024 * 1024
_HEX = re.compile(rb"[0-9A-Fa-f]{1,16}")
#: RFC 9110 token characters: a header name
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


class HttpError(Exception):
    """The HTTP exchange failed."""


class ConnectError(HttpError):
    """No TCP connection to the origin (refused, unreachable, DNS failure)."""

    def __init__(self, os_error: OSError) -> None:
        super().__init__(str(os_error))
        self.os_error = os_error


class ProxyConnectError(ConnectError):
    """No connection to the proxy, or it hung up before answering ``CONNECT``."""


class ProxyRefusedError(HttpError):
    """The proxy answered ``CONNECT`` with a status other than 2xx."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason


class TlsError(HttpError):
    """The TLS handshake failed."""

    def __init__(self, os_error: OSError) -> None:
        super().__init__(str(os_error))
        self.os_error = os_error


class CertificateError(TlsError):
    """The server's certificate did not verify (or did not match the host)."""


class ServerDisconnectedError(HttpError):
    """The server closed the connection before the response head was complete."""

    def __init__(self, message: str, *, nothing_received: bool = False) -> None:
        super().__init__(message)
        #: not a byte of a response came back (a keep-alive connection closed as it was
        #: reused: the request can go again on a new connection)
        self.nothing_received = nothing_received


class IncompleteBodyError(HttpError):
    """The server closed the connection in the middle of the response body."""


class ClientClosedError(HttpError):
    """``HttpClient.close`` closed the connection while the call waited for its response."""


class MalformedResponseError(HttpError):
    """The response is not valid HTTP/1.1."""


class ResponseTooLargeError(HttpError):
    """The response body is larger than the client's ``max_body`` (the call is aborted)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the response body is larger than {limit} bytes")
        self.limit = limit


class HttpResponse(NamedTuple):
    """One response. A NamedTuple, not a frozen dataclass: one is built per call, and a
    frozen dataclass pays an ``object.__setattr__`` per field."""

    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]  # as received: order, repeats and names' case kept
    body: bytes


class _Malformed(Exception):
    pass


class _TooLarge(Exception):
    pass


# parser states
_IDLE, _HEAD, _LENGTH, _CHUNKED, _UNTIL_CLOSE = range(5)
# chunked sub-states
_CHUNK_SIZE, _CHUNK_DATA, _CHUNK_END, _TRAILER = range(4)


_VERSIONS = frozenset(("HTTP/1.1", "HTTP/1.0"))
#: the headers that frame the body or decide reuse (lower case)
_FRAMING = frozenset(("content-length", "transfer-encoding", "connection"))


def _is_number(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _fold(headers: list[tuple[str, str]], line: str) -> None:
    """An obsolete folded line continues the previous header's value; else it is malformed."""
    if not headers or line[:1] not in (" ", "\t"):
        raise _Malformed(f"bad header line {line[:100]!r}")
    name, value = headers[-1]
    continuation = line.strip(" \t")
    headers[-1] = (name, f"{value} {continuation}" if value else continuation)


def _check_line_breaks(head: bytes) -> None:
    """Lines end with CRLF only: a bare CR or LF, or a NUL, inside the head would let a
    value become a header of its own at the client (``Set-Cookie`` injection)."""
    if b"\x00" in head:
        raise _Malformed("NUL character in the response head")
    crlf = head.count(b"\r\n")
    if head.count(b"\n") != crlf or head.count(b"\r") != crlf:
        raise _Malformed("bare CR or LF inside a response header line")


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection: parses one response per request into ``waiter``."""

    __slots__ = (
        "_body_left",
        "_buf",
        "_chunk_state",
        "_head_only",
        "_headers",
        "_parts",
        "_pool",
        "_reason",
        "_remaining",
        "_state",
        "_status",
        "_waiter",
        "closed",
        "loop",
        "reusable",
        "transport",
    )

    def __init__(self, pool: _Pool, loop: asyncio.AbstractEventLoop) -> None:
        self._pool = pool
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.reusable = True
        self._waiter: asyncio.Future[HttpResponse] | None = None
        self._state = _IDLE
        self._head_only = False
        self._buf = bytearray()  # an incomplete head or chunk-framing line
        self._parts: list[bytes] = []
        self._remaining = 0
        self._chunk_state = _CHUNK_SIZE
        self._status = 0
        self._reason = ""
        self._headers: list[tuple[str, str]] = []
        #: body bytes the response may still have before it exceeds the pool's max_body
        self._body_left = 0

    # -- used by PostTarget / _Pool --------------------------------------------------------

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
        self._state = _HEAD
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
        if self._state == _UNTIL_CLOSE and exc is None:
            self._finish()
            return
        error: HttpError
        if self._state == _HEAD:
            error = ServerDisconnectedError(
                "the server closed the connection", nothing_received=not self._buf
            )
        else:
            error = IncompleteBodyError(self._shortfall())
        if exc is not None:
            error.__cause__ = exc
        waiter.set_exception(error)

    def eof_received(self) -> bool | None:
        if self._state == _UNTIL_CLOSE:
            self._finish()
        self.reusable = False
        return None  # close the transport; connection_lost reports a cut-short response

    def data_received(self, data: bytes) -> None:
        state = self._state
        try:
            if state == _LENGTH:  # more of a big body: no parsing at all
                remaining = self._remaining
                if len(data) < remaining:
                    self._parts.append(data)
                    self._remaining = remaining - len(data)
                    return
            elif state == _HEAD and not self._buf:  # the usual case: a whole head in one read
                end = data.find(b"\r\n\r\n")
                if end >= 0:
                    self._parse_head(data[:end])
                    data = data[end + 4 :]
                    if self._state == _LENGTH and len(data) == self._remaining:
                        self._parts.append(data)
                        self._finish()
                        return
            self._feed(data)
        except _Malformed as exc:
            self._fail(MalformedResponseError(str(exc)))
        except _TooLarge:
            self._fail(ResponseTooLargeError(self._pool.max_body))

    # -- parsing ---------------------------------------------------------------------------

    def _feed(self, data: bytes) -> None:
        while data:
            state = self._state
            if state == _HEAD:
                data = self._feed_head(data)
            elif state == _LENGTH:
                remaining = self._remaining
                if len(data) < remaining:
                    self._parts.append(data)
                    self._remaining = remaining - len(data)
                    return
                self._parts.append(data[:remaining] if len(data) > remaining else data)
                data = data[remaining:]
                self._finish()
            elif state == _CHUNKED:
                data = self._feed_chunked(data)
            elif state == _UNTIL_CLOSE:
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
            raise _Malformed(f"the response head is longer than {MAX_HEAD_BYTES} bytes")

    def _parse_head(self, head: bytes) -> None:
        if len(head) > MAX_HEAD_BYTES:
            raise _Malformed(f"the response head is longer than {MAX_HEAD_BYTES} bytes")
        _check_line_breaks(head)
        status_line, *lines = head.decode("utf-8", "surrogateescape").split("\r\n")
        version, _, rest = status_line.partition(" ")
        code, _, reason = rest.partition(" ")
        if version not in _VERSIONS or len(code) != 3 or not (code.isdigit() and code.isascii()):
            raise _Malformed(f"bad status line {status_line[:100]!r}")
        status = int(code)
        headers: list[tuple[str, str]] = []
        framing: list[tuple[str, str]] = []  # (lower-case name, value) of _FRAMING headers
        for line in lines:
            name, colon, value = line.partition(":")
            if not colon or not name or name != name.strip():
                _fold(headers, line)
                continue
            if not _TOKEN.fullmatch(name):
                raise _Malformed(f"bad header name {name[:100]!r}")
            value = value.strip(" \t")
            headers.append((name, value))
            if name.lower() in _FRAMING:
                framing.append((name.lower(), value))
        if status < 200 and not self._head_only:
            if status == 101:
                raise _Malformed("unexpected 101 Switching Protocols")
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
                        raise _Malformed("conflicting Content-Length values")
                    value = values.pop()
                if length is not None and value != length:
                    raise _Malformed("conflicting Content-Length values")
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
                self._state = _CHUNKED
                self._chunk_state = _CHUNK_SIZE
            else:
                self._state = _UNTIL_CLOSE
                self.reusable = False
        elif length is not None:
            if not _is_number(length) or len(length) > 18:
                raise _Malformed(f"bad Content-Length {length[:40]!r}")
            self._remaining = int(length)
            self._take_body(self._remaining)  # a known length is checked once, up front
            if self._remaining:
                self._state = _LENGTH
            else:
                self._finish()
        else:
            self._state = _UNTIL_CLOSE
            self.reusable = False

    def _feed_chunked(self, data: bytes) -> bytes:
        """Consume chunked framing and data; returns what follows the body's end."""
        position, size = 0, len(data)
        while position < size:
            if self._chunk_state == _CHUNK_DATA:
                take = min(self._remaining, size - position)
                self._parts.append(data[position : position + take])
                position += take
                self._remaining -= take
                if not self._remaining:
                    self._chunk_state = _CHUNK_END
                continue
            newline = data.find(b"\n", position)
            if newline < 0:
                self._buf += data[position:]
                if len(self._buf) > _MAX_LINE_BYTES:
                    raise _Malformed("a chunk framing line is too long")
                return b""
            line = data[position:newline]
            position = newline + 1
            if self._buf:
                line = bytes(self._buf) + line
                self._buf.clear()
            if line.endswith(b"\r"):
                line = line[:-1]
            if self._chunk_state == _CHUNK_SIZE:
                size_text = line.split(b";", 1)[0].strip(b" \t")
                if not _HEX.fullmatch(size_text):
                    raise _Malformed(f"bad chunk size line {line[:40]!r}")
                self._remaining = int(size_text, 16)
                self._take_body(self._remaining)
                self._chunk_state = _CHUNK_DATA if self._remaining else _TRAILER
            elif self._chunk_state == _CHUNK_END:
                if line:
                    raise _Malformed("chunk data longer than its size")
                self._chunk_state = _CHUNK_SIZE
            elif not line:  # _TRAILER: an empty line ends the body; trailer fields are dropped
                self._finish()
                return data[position:]
        return b""

    def _take_body(self, size: int) -> None:
        """Count ``size`` more body bytes against the cap; over it, the call fails."""
        self._body_left -= size
        if self._body_left < 0:
            raise _TooLarge

    def _shortfall(self) -> str:
        received = sum(map(len, self._parts))
        if self._state == _LENGTH:
            return f"got {received} of {received + self._remaining} body bytes"
        return f"the chunked body ended after {received} bytes"

    def _finish(self) -> None:
        parts = self._parts
        body = b"".join(parts) if parts else b""
        self._parts = []
        self._state = _IDLE
        waiter = self._waiter
        self._waiter = None
        if waiter is not None and not waiter.done():
            waiter.set_result(HttpResponse(self._status, self._reason, tuple(self._headers), body))

    def _fail(self, error: HttpError) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)
        self.abort()


class _Pool:
    """The connections to one (scheme, host, port, proxy); idle ones newest last."""

    __slots__ = ("_client", "_connections", "_idle", "_key", "_timer")

    def __init__(self, client: HttpClient, key: _PoolKey) -> None:
        self._client = client
        self._key = key
        self._idle: dict[_Connection, float] = {}  # -> when it expires (loop time)
        self._connections: set[_Connection] = set()
        self._timer: asyncio.TimerHandle | None = None

    @property
    def max_body(self) -> int:
        return self._client.max_body

    def take(self) -> _Connection | None:
        idle = self._idle
        while idle:
            connection, expires = idle.popitem()
            transport = connection.transport
            if (
                connection.closed
                or transport is None
                or transport.is_closing()
                or expires <= connection.loop.time()
            ):
                connection.close()
                continue
            return connection
        return None

    def release(self, connection: _Connection, keepalive_s: float) -> None:
        transport = connection.transport
        if (
            keepalive_s <= 0
            or not connection.reusable
            or transport is None
            or transport.is_closing()
            or transport.get_write_buffer_size()  # answered before the request was sent
        ):
            connection.close()
            return
        loop = connection.loop
        self._idle[connection] = loop.time() + keepalive_s
        if self._timer is None:
            self._timer = loop.call_later(keepalive_s, self._expire)

    def lost(self, connection: _Connection) -> None:
        self._idle.pop(connection, None)
        self._connections.discard(connection)

    def _expire(self) -> None:
        self._timer = None
        if not self._idle:
            return
        loop = next(iter(self._idle)).loop
        now = loop.time()
        for connection, expires in list(self._idle.items()):
            if expires <= now:
                del self._idle[connection]
                connection.close()
        if self._idle:
            self._timer = loop.call_later(min(self._idle.values()) - now, self._expire)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._idle.clear()
        for connection in list(self._connections):
            connection.close()

    async def open(self) -> _Connection:
        key = self._key
        loop = asyncio.get_running_loop()
        connection = _Connection(self, loop)
        tls = await self._client.ssl_context() if key.scheme == "https" else None
        resolver = self._client.resolver
        try:
            if key.proxy is None:
                try:
                    await resolver.connect(
                        loop, connection, key.host, key.port, tls=tls, server_hostname=key.host
                    )
                except ssl.SSLCertVerificationError as exc:
                    raise CertificateError(exc) from exc
                except ssl.SSLError as exc:
                    raise TlsError(exc) from exc
                except OSError as exc:
                    raise ConnectError(exc) from exc
            else:
                try:
                    await resolver.connect(loop, connection, key.proxy.host, key.proxy.port)
                except OSError as exc:
                    raise ProxyConnectError(exc) from exc
                if tls is not None:
                    await self._tunnel(loop, connection, tls)
        except BaseException:
            connection.abort()
            raise
        self._connections.add(connection)
        return connection

    async def _tunnel(
        self, loop: asyncio.AbstractEventLoop, connection: _Connection, tls: ssl.SSLContext
    ) -> None:
        """``CONNECT`` through the proxy, then TLS with the origin over the tunnel."""
        key = self._key
        assert key.proxy is not None
        try:
            answer = await connection.send((key.proxy.connect_request,), head_only=True)
        except (ServerDisconnectedError, MalformedResponseError) as exc:
            raise ProxyConnectError(ConnectionError(f"bad answer to CONNECT: {exc}")) from exc
        if not 200 <= answer.status < 300:
            raise ProxyRefusedError(answer.status, answer.reason)
        assert connection.transport is not None
        try:
            transport = await loop.start_tls(
                connection.transport, connection, tls, server_hostname=key.host
            )
        except ssl.SSLCertVerificationError as exc:
            raise CertificateError(exc) from exc
        except (ssl.SSLError, OSError) as exc:
            raise TlsError(exc) from exc
        if transport is None:  # the loop closed the connection meanwhile
            raise TlsError(ConnectionError("the tunnel closed during the TLS handshake"))
        connection.transport = transport


@dataclass(frozen=True, slots=True)
class _ProxyRoute:
    host: str
    port: int
    authorization: str  # "" or a whole "Proxy-Authorization: ...\r\n" line
    connect_request: bytes  # for https targets


@dataclass(frozen=True, slots=True)
class _PoolKey:
    scheme: str
    host: str  # without IPv6 brackets
    port: int
    proxy: _ProxyRoute | None


class PostTarget:
    """POSTs to one URL; everything that does not change between calls is precomputed."""

    __slots__ = ("_pool", "_request_head", "keepalive_s")

    def __init__(self, pool: _Pool, request_head: str, keepalive_s: float) -> None:
        self._pool = pool
        self._request_head = request_head
        self.keepalive_s = keepalive_s

    async def post(self, headers: Mapping[str, str], body: bytes) -> HttpResponse:
        """One request and its response. ``headers`` are sent as given (with ``Host``);
        ``Content-Length`` is added. Raises an ``HttpError`` subclass."""
        pool = self._pool
        head = "".join(
            [
                self._request_head,
                *[f"{name}: {value}\r\n" for name, value in headers.items()],
                f"Content-Length: {len(body)}\r\n\r\n",
            ]
        ).encode()
        data = (head, body) if body else (head,)
        connection = pool.take()
        if connection is not None:
            try:
                return await self._exchange(connection, data)
            except ServerDisconnectedError as exc:
                if not exc.nothing_received:
                    raise
                # The server closed the idle keep-alive connection as it was reused (not a
                # byte of an answer): once more on a new connection, as HTTP clients do
                # (botocore retries a closed connection too).
        return await self._exchange(await pool.open(), data)

    async def _exchange(self, connection: _Connection, data: tuple[bytes, ...]) -> HttpResponse:
        try:
            response = await connection.send(data)
        except BaseException:
            connection.abort()  # cancelled or failed: the connection is out of step
            raise
        self._pool.release(connection, self.keepalive_s)
        return response

    async def hand_over(self) -> tuple[asyncio.Transport, str]:
        """A connection to this target for a response this client does not read (a
        stream): an idle pooled one or a new one (TLS and proxy tunnel set up as for
        ``post``), no longer the pool's. Returns its transport and the request head to
        start the request with (request line, proxy headers); the caller sets its own
        protocol on the transport (``set_protocol`` then ``connection_made``), writes the
        request and closes the transport when done."""
        pool = self._pool
        connection = pool.take() or await pool.open()
        pool.lost(connection)
        assert connection.transport is not None
        return connection.transport, self._request_head


class _Resolver:
    """Addresses of host names, cached for ``DNS_TTL_S`` and looked up once for concurrent
    callers: ``create_connection`` with a name would run ``getaddrinfo`` in a thread for
    every new connection, and a burst opens hundreds at once."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, int], tuple[float, list[str]]] = {}  # -> (expiry, IPs)
        self._lookups: dict[tuple[str, int], asyncio.Task[list[str]]] = {}

    async def connect(
        self,
        loop: asyncio.AbstractEventLoop,
        connection: _Connection,
        host: str,
        port: int,
        *,
        tls: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
    ) -> None:
        """Connect ``connection`` to the first of ``host``'s addresses that accepts."""
        error: OSError | None = None
        for address in await self._addresses(loop, host, port):
            try:
                await loop.create_connection(
                    lambda: connection,
                    address,
                    port,
                    ssl=tls,
                    server_hostname=server_hostname if tls is not None else None,
                )
                return
            except ssl.SSLError:
                raise  # the address answered: another one would not verify better
            except OSError as exc:
                error = exc
        assert error is not None  # getaddrinfo returns at least one address or raises
        raise error

    async def _addresses(self, loop: asyncio.AbstractEventLoop, host: str, port: int) -> list[str]:
        if _is_ip_address(host):
            return [host]
        key = (host, port)
        cached = self._cache.get(key)
        if cached is not None and cached[0] > loop.time():
            return cached[1]
        lookup = self._lookups.get(key)
        if lookup is None or lookup.done():  # done: failed (an eager task ends before _forget)
            lookup = loop.create_task(self._look_up(loop, host, port))
            self._lookups[key] = lookup
            lookup.add_done_callback(functools.partial(self._forget, key))
        return await asyncio.shield(lookup)

    async def _look_up(self, loop: asyncio.AbstractEventLoop, host: str, port: int) -> list[str]:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        self._cache[(host, port)] = (loop.time() + DNS_TTL_S, addresses)
        return addresses

    def _forget(self, key: tuple[str, int], lookup: asyncio.Task[list[str]]) -> None:
        if self._lookups.get(key) is lookup:
            del self._lookups[key]


def _is_ip_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class HttpClient:
    """Pools of keep-alive connections, one per (scheme, host, port, proxy)."""

    def __init__(self, *, verify_tls: bool = True, max_body: int = DEFAULT_MAX_BODY) -> None:
        self._verify_tls = verify_tls
        #: a response body larger than this fails the call with ResponseTooLargeError
        self.max_body = max_body
        self._pools: dict[_PoolKey, _Pool] = {}
        self._tls: ssl.SSLContext | None = None
        self._tls_loading: asyncio.Task[ssl.SSLContext] | None = None
        self.resolver = _Resolver()

    def post_target(
        self,
        *,
        scheme: str,
        host: str,
        port: int,
        path: str,
        keepalive_s: float,
        proxy_url: str | None = None,
    ) -> PostTarget:
        """``path`` (with its query) is sent exactly as given; ``host`` as in a URL."""
        if scheme not in ("http", "https"):
            raise ValueError(f"unsupported scheme {scheme!r}")
        bare_host = host[1:-1] if host.startswith("[") else host
        proxy = _proxy_route(proxy_url, host, port) if proxy_url else None
        key = _PoolKey(scheme, bare_host, port, proxy)
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = _Pool(self, key)
        if proxy is not None and scheme == "http":  # absolute form to the proxy
            default = port == 80
            request_target = f"http://{host if default else f'{host}:{port}'}{path}"
            request_head = f"POST {request_target} HTTP/1.1\r\n{proxy.authorization}"
        else:
            request_head = f"POST {path} HTTP/1.1\r\n"
        return PostTarget(pool, request_head, keepalive_s)

    async def ssl_context(self) -> ssl.SSLContext:
        """The client's TLS context, built once (loading the CA store blocks: in a thread)."""
        if self._tls is not None:
            return self._tls
        if not self._verify_tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            self._tls = context
            return context
        if self._tls_loading is None:
            self._tls_loading = asyncio.get_running_loop().create_task(
                asyncio.to_thread(ssl.create_default_context)
            )
        self._tls = await asyncio.shield(self._tls_loading)
        return self._tls

    async def close(self) -> None:
        """Close every connection (idle or in use); new calls open new ones."""
        for pool in self._pools.values():
            pool.close()
        await asyncio.sleep(0)  # let the transports report connection_lost


def _proxy_route(proxy_url: str, host: str, port: int) -> _ProxyRoute:
    url = URL(proxy_url)
    if url.scheme != "http" or not url.host:
        raise ValueError("proxy_url must be an http:// URL with a host")
    authorization = ""
    if url.user is not None:
        credentials = f"{url.user}:{url.password or ''}".encode()
        authorization = f"Proxy-Authorization: Basic {base64.b64encode(credentials).decode()}\r\n"
    authority = f"{host}:{port}"
    connect_request = (
        f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n{authorization}\r\n".encode()
    )
    return _ProxyRoute(url.host, url.port or 80, authorization, connect_request)

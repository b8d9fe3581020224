"""The connections of an ``HttpClient``: a pool per (scheme, host, port, proxy), the proxy
route and the cached host-name resolver.

* Connections are shared by every caller. There is no cap on connections: a call that
  finds no idle connection opens a new one. An idle connection is closed ``keepalive_s``
  after its last use, or at once when the server closes it; one that is not cleanly
  reusable (``Connection: close``, read-until-close body, an error, a cancelled call) is
  closed instead of pooled. Nothing is retried, but for one case (``PostTarget.post``): a
  reused idle connection that the server closed before a byte of the answer is tried once
  more on a new connection.
* Host names are resolved once per ``DNS_TTL_S`` for all new connections (a burst opens
  hundreds), every address tried in turn.
* Proxies (``http://`` only): ``https`` targets through a ``CONNECT`` tunnel then TLS over
  it; ``http`` targets with an absolute-form request line. ``Proxy-Authorization: Basic``
  from the proxy URL's userinfo."""

from __future__ import annotations

import asyncio
import base64
import functools
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING

from yarl import URL

from .http_connection import Connection
from .http_errors import (
    CertificateError,
    ConnectError,
    MalformedResponseError,
    ProxyConnectError,
    ProxyRefusedError,
    ServerDisconnectedError,
    TlsError,
)

if TYPE_CHECKING:
    from .http_client import HttpClient

#: how long a host name's addresses are reused (as aiohttp's default DNS cache)
DNS_TTL_S = 10.0


class Pool:
    """The connections to one (scheme, host, port, proxy); idle ones newest last."""

    __slots__ = ("_client", "_connections", "_idle", "_key", "_timer")

    def __init__(self, client: HttpClient, key: PoolKey) -> None:
        self._client = client
        self._key = key
        self._idle: dict[Connection, float] = {}  # -> when it expires (loop time)
        self._connections: set[Connection] = set()
        self._timer: asyncio.TimerHandle | None = None

    @property
    def max_body(self) -> int:
        return self._client.max_body

    def take(self) -> Connection | None:
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

    def release(self, connection: Connection, keepalive_s: float) -> None:
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

    def lost(self, connection: Connection) -> None:
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

    async def open(self) -> Connection:
        key = self._key
        loop = asyncio.get_running_loop()
        connection = Connection(self, loop)
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
        self, loop: asyncio.AbstractEventLoop, connection: Connection, tls: ssl.SSLContext
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
class ProxyRoute:
    host: str
    port: int
    authorization: str  # "" or a whole "Proxy-Authorization: ...\r\n" line
    connect_request: bytes  # for https targets


@dataclass(frozen=True, slots=True)
class PoolKey:
    scheme: str
    host: str  # without IPv6 brackets
    port: int
    proxy: ProxyRoute | None


class Resolver:
    """Addresses of host names, cached for ``DNS_TTL_S`` and looked up once for concurrent
    callers: ``create_connection`` with a name would run ``getaddrinfo`` in a thread for
    every new connection, and a burst opens hundreds at once."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, int], tuple[float, list[str]]] = {}  # -> (expiry, IPs)
        self._lookups: dict[tuple[str, int], asyncio.Task[list[str]]] = {}

    async def connect(
        self,
        loop: asyncio.AbstractEventLoop,
        connection: Connection,
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


def proxy_route(proxy_url: str, host: str, port: int) -> ProxyRoute:
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
    return ProxyRoute(url.host, url.port or 80, authorization, connect_request)

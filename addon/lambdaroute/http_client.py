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
* ``http_pool``: connections pooled per (scheme, host, port, proxy) in one ``HttpClient``
  (TLS verification is per client), proxies and the host-name resolver.
  ``http_connection`` and ``http_parser``: one connection and the parsing of its responses.
  ``http_errors``: the failures.

Every failure raises an ``HttpError`` subclass; the caller bounds the whole call with
``asyncio.timeout`` (a cancelled call aborts its connection).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Mapping

from .http_connection import Connection
from .http_errors import ServerDisconnectedError
from .http_parser import HttpResponse
from .http_pool import Pool, PoolKey, Resolver, proxy_route

#: default bound on a response body: a little above Lambda's 6 MB synchronous limit
DEFAULT_MAX_BODY = 7 * 1024 * 1024


class PostTarget:
    """POSTs to one URL; everything that does not change between calls is precomputed."""

    __slots__ = ("_pool", "_request_head", "keepalive_s")

    def __init__(self, pool: Pool, request_head: str, keepalive_s: float) -> None:
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

    async def _exchange(self, connection: Connection, data: tuple[bytes, ...]) -> HttpResponse:
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


class HttpClient:
    """Pools of keep-alive connections, one per (scheme, host, port, proxy)."""

    def __init__(self, *, verify_tls: bool = True, max_body: int = DEFAULT_MAX_BODY) -> None:
        self._verify_tls = verify_tls
        #: a response body larger than this fails the call with ResponseTooLargeError
        self.max_body = max_body
        self._pools: dict[PoolKey, Pool] = {}
        self._tls: ssl.SSLContext | None = None
        self._tls_loading: asyncio.Task[ssl.SSLContext] | None = None
        self.resolver = Resolver()

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
        proxy = proxy_route(proxy_url, host, port) if proxy_url else None
        key = PoolKey(scheme, bare_host, port, proxy)
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = Pool(self, key)
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

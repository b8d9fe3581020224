"""lambdaroute.http_client against loopback servers that answer crafted bytes: framing, keep-alive,
idle expiry, cancellation, malformed answers, concurrency and big bodies."""

from __future__ import annotations

import asyncio
import base64
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from lambdaroute.http_client import HttpClient, PostTarget
from lambdaroute.http_errors import (
    ClientClosedError,
    ConnectError,
    IncompleteBodyError,
    MalformedResponseError,
    ProxyRefusedError,
    ResponseTooLargeError,
    ServerDisconnectedError,
)
from lambdaroute.http_parser import HttpResponse
from tests.fakeaws import server_ssl_context

PATH = "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A1%3Afunction%3Af/invocations"


def ok(body: bytes = b"hello", *extra: bytes) -> bytes:
    head = [b"HTTP/1.1 200 OK", *extra, b"Content-Length: %d" % len(body)]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


@dataclass
class Request:
    connection: int
    head: bytes
    body: bytes

    @property
    def request_line(self) -> str:
        return self.head.split(b"\r\n", 1)[0].decode()

    def header(self, name: str) -> str | None:
        for line in self.head.split(b"\r\n")[1:]:
            key, _, value = line.decode().partition(":")
            if key.lower() == name.lower():
                return value.strip()
        return None


@dataclass
class Answer:
    """What the server does with one request."""

    pieces: list[bytes]  # written one by one
    pause_s: float = 0.0  # between pieces
    delay_s: float = 0.0  # before the first piece
    close: bool = False  # close the connection afterwards
    hold: bool = False  # never finish: keep the connection open without writing more


Script = Callable[[Request], Answer]


@dataclass
class CraftedServer:
    """Reads HTTP/1.1 requests (Content-Length bodies) and answers what ``script`` says."""

    script: Script
    requests: list[Request] = field(default_factory=list)
    connections: int = 0
    closed_by_client: int = 0  # connections on which the server read EOF between requests
    in_flight: int = 0
    max_in_flight: int = 0
    port: int = 0
    _server: asyncio.Server | None = None
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)

    async def start(self, tls: ssl.SSLContext | None = None) -> CraftedServer:
        self._server = await asyncio.start_server(
            self._handle, "127.0.0.1", 0, backlog=1024, ssl=tls
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        connection = self.connections
        self._writers.add(writer)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError:
                    self.closed_by_client += 1
                    return
                request = Request(connection, head[:-4], b"")
                length = int(request.header("Content-Length") or 0)
                request.body = await reader.readexactly(length)
                self.requests.append(request)
                answer = self.script(request)
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
                try:
                    await asyncio.sleep(answer.delay_s)
                    for piece in answer.pieces:
                        writer.write(piece)
                        await writer.drain()
                        if answer.pause_s:
                            await asyncio.sleep(answer.pause_s)
                finally:
                    self.in_flight -= 1
                if answer.hold:
                    self.closed_by_client += await reader.read() == b""
                    return
                if answer.close:
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            self._writers.discard(writer)
            writer.close()


@pytest.fixture
async def http() -> AsyncIterator[HttpClient]:
    client = HttpClient()
    yield client
    await client.close()


Serve = Callable[[Script], Awaitable[CraftedServer]]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """Starts crafted servers; closes them after the test."""
    servers: list[CraftedServer] = []

    async def start(script: Script) -> CraftedServer:
        server = CraftedServer(script)
        servers.append(server)
        return await server.start()

    yield start
    for server in servers:
        await server.close()


def target_for(http: HttpClient, server: CraftedServer, *, keepalive_s: float = 60) -> PostTarget:
    return http.post_target(
        scheme="http", host="127.0.0.1", port=server.port, path=PATH, keepalive_s=keepalive_s
    )


def headers_for(server: CraftedServer) -> dict[str, str]:
    return {"Host": f"127.0.0.1:{server.port}", "X-Amz-Invocation-Type": "RequestResponse"}


async def call(target: PostTarget, server: CraftedServer, body: bytes = b"{}") -> HttpResponse:
    return await target.post(headers_for(server), body)


async def test_content_length_body_and_the_request_as_sent(http: HttpClient, serve: Serve) -> None:
    server = await serve(lambda request: Answer([ok(b"hello", b"X-Repeat: one", b"x-repeat: two")]))
    response = await call(target_for(http, server), server, b'{"a": 1}')

    assert (response.status, response.reason, response.body) == (200, "OK", b"hello")
    assert response.headers == (("X-Repeat", "one"), ("x-repeat", "two"), ("Content-Length", "5"))
    [request] = server.requests
    assert (
        request.head
        == (
            f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
            "X-Amz-Invocation-Type: RequestResponse\r\nContent-Length: 8"
        ).encode()
    )
    assert request.body == b'{"a": 1}'


CHUNKED = (
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5;name=value\r\nhello\r\n"
    b'7 ; quoted="a;b"\r\n, world\r\n'
    b"0\r\nX-Trailer: t\r\nX-Other: u\r\n\r\n"
)


async def test_chunked_body_with_extensions_and_trailers(http: HttpClient, serve: Serve) -> None:
    server = await serve(lambda request: Answer([CHUNKED]))
    target = target_for(http, server)
    first = await call(target, server)
    second = await call(target, server)  # the trailers were consumed: the connection is in step

    assert first.body == second.body == b"hello, world"
    assert first.headers == (("Transfer-Encoding", "chunked"),)
    assert server.connections == 1


@pytest.mark.parametrize("response", [ok(b"x" * 50, b"X-A: b"), CHUNKED], ids=["length", "chunked"])
async def test_response_written_byte_by_byte(
    http: HttpClient, serve: Serve, response: bytes
) -> None:
    pieces = [response[i : i + 1] for i in range(len(response))]
    server = await serve(lambda request: Answer(pieces, pause_s=0.001))
    target = target_for(http, server)
    result = await call(target, server)
    again = await call(target, server)

    expected = b"x" * 50 if response is not CHUNKED else b"hello, world"
    assert result.body == again.body == expected
    assert result.status == 200
    assert server.connections == 1


async def test_head_split_inside_its_blank_line(http: HttpClient, serve: Serve) -> None:
    response = ok(b"body")
    cut = response.index(b"\r\n\r\n") + 3
    server = await serve(lambda request: Answer([response[:cut], response[cut:]], pause_s=0.02))
    result = await call(target_for(http, server), server)
    assert (result.status, result.body) == (200, b"body")


async def test_body_read_until_close_and_not_reused(http: HttpClient, serve: Serve) -> None:
    answer = b"HTTP/1.1 200 OK\r\nX-A: b\r\n\r\n"
    server = await serve(lambda request: Answer([answer, b"part one, ", b"part two"], close=True))
    target = target_for(http, server)
    first = await call(target, server)
    second = await call(target, server)
    assert first.body == second.body == b"part one, part two"
    assert server.connections == 2


async def test_interim_responses_are_skipped(http: HttpClient, serve: Serve) -> None:
    interim = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n"
    server = await serve(lambda request: Answer([interim, ok(b"final")]))
    result = await call(target_for(http, server), server)
    assert (result.status, result.body) == (200, b"final")
    assert result.headers == (("Content-Length", "5"),)


async def test_connection_close_is_not_reused(http: HttpClient, serve: Serve) -> None:
    server = await serve(lambda request: Answer([ok(b"bye", b"Connection: close")]))
    target = target_for(http, server)
    for _ in range(3):
        assert (await call(target, server)).body == b"bye"
    assert server.connections == 3


async def test_keep_alive_reuses_one_connection(http: HttpClient, serve: Serve) -> None:
    server = await serve(lambda request: Answer([ok()]))
    target = target_for(http, server)
    for _ in range(10):
        await call(target, server)
    assert server.connections == 1
    assert len(server.requests) == 10


async def test_targets_of_one_origin_share_the_pool(http: HttpClient, serve: Serve) -> None:
    server = await serve(lambda request: Answer([ok()]))
    await call(target_for(http, server), server)
    other = http.post_target(
        scheme="http", host="127.0.0.1", port=server.port, path="/other", keepalive_s=60
    )
    await call(other, server)
    assert server.connections == 1
    assert server.requests[1].request_line == "POST /other HTTP/1.1"


async def test_keepalive_zero_means_no_reuse(http: HttpClient, serve: Serve) -> None:
    server = await serve(lambda request: Answer([ok()]))
    target = target_for(http, server, keepalive_s=0)
    for _ in range(3):
        await call(target, server)
    assert server.connections == 3


async def test_idle_connection_expires(http: HttpClient, serve: Serve) -> None:
    server = await serve(lambda request: Answer([ok()]))
    target = target_for(http, server, keepalive_s=0.05)
    await call(target, server)
    await asyncio.sleep(0.2)
    assert server.closed_by_client == 1  # closed by the expiry timer, not just skipped
    await call(target, server)
    assert server.connections == 2


async def test_server_closing_an_idle_connection(http: HttpClient, serve: Serve) -> None:
    server = await serve(lambda request: Answer([ok()], close=True))  # no Connection: close
    target = target_for(http, server)
    await call(target, server)
    await asyncio.sleep(0.05)
    result = await call(target, server)
    assert result.body == b"hello"
    assert server.connections == 2


async def test_cancellation_mid_response_closes_the_connection(
    http: HttpClient, serve: Serve
) -> None:
    partial = Answer([b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial"], hold=True)
    server = await serve(lambda request: partial if request.connection == 1 else Answer([ok()]))
    target = target_for(http, server)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.2):
            await call(target, server)
    await asyncio.sleep(0.05)
    assert server.closed_by_client == 1
    assert (await call(target, server)).body == b"hello"
    assert server.connections == 2


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 OK\r\n\r\n",
        b"HTTP/2 200 OK\r\n\r\n",
        b"ICY 200 OK\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        b"HTTP/1.1 200 OK\r\nBad Header Line\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\n\r\n",
    ],
)
async def test_malformed_responses_are_rejected(
    http: HttpClient, serve: Serve, answer: bytes
) -> None:
    server = await serve(lambda request: Answer([answer], hold=True))
    with pytest.raises(MalformedResponseError):
        await call(target_for(http, server), server)
    await asyncio.sleep(0.05)
    assert server.closed_by_client == 1


async def test_disconnect_before_the_head(http: HttpClient, serve: Serve) -> None:
    server = await serve(lambda request: Answer([b"HTTP/1.1 200 OK\r\nX-A"], close=True))
    with pytest.raises(ServerDisconnectedError):
        await call(target_for(http, server), server)
    assert len(server.requests) == 1


async def test_a_reused_connection_closed_unanswered_is_retried_once_on_a_new_one(
    http: HttpClient, serve: Serve
) -> None:
    """A keep-alive connection the server closes just as it is reused (not a byte of an
    answer) is the race of every HTTP client: the request goes once more, on a new
    connection. Before, the call failed with a 502."""

    def script(request: Request) -> Answer:
        if request.connection == 1 and len(server.requests) == 2:
            return Answer([], close=True)  # the idle connection's close, as it is reused
        return Answer([ok(b"answer %d" % len(server.requests))])

    server = await serve(script)
    target = target_for(http, server)
    assert (await call(target, server)).body == b"answer 1"
    assert (await call(target, server)).body == b"answer 3"
    assert [request.connection for request in server.requests] == [1, 1, 2]
    # not retried: a new connection closed unanswered, or a reused one after part of a head
    fresh = await serve(lambda request: Answer([], close=True))
    with pytest.raises(ServerDisconnectedError):
        await call(target_for(http, fresh), fresh)
    assert len(fresh.requests) == 1

    def partial(request: Request) -> Answer:
        if len(cut.requests) == 2:
            return Answer([b"HTTP/1.1 200 OK\r\nX-A"], close=True)
        return Answer([ok()])

    cut = await serve(partial)
    cut_target = target_for(http, cut)
    await call(cut_target, cut)
    with pytest.raises(ServerDisconnectedError):
        await call(cut_target, cut)
    assert len(cut.requests) == 2


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabc",
    ],
    ids=["length", "chunked"],
)
async def test_disconnect_mid_body(http: HttpClient, serve: Serve, answer: bytes) -> None:
    server = await serve(lambda request: Answer([answer], close=True))
    with pytest.raises(IncompleteBodyError, match="3"):
        await call(target_for(http, server), server)


async def test_300_concurrent_calls_each_get_a_connection(http: HttpClient, serve: Serve) -> None:
    server = await serve(lambda request: Answer([ok(request.body)], delay_s=0.3))
    target = target_for(http, server)
    bodies = [b"%d" % i for i in range(300)]
    results = await asyncio.gather(*(call(target, server, body) for body in bodies))
    assert [result.body for result in results] == bodies
    assert server.max_in_flight == 300
    assert server.connections == 300
    await asyncio.gather(*(call(target, server) for _ in range(300)))  # all pooled: reused
    assert server.connections == 300


@pytest.mark.parametrize("chunked", [False, True], ids=["length", "chunked"])
async def test_six_megabyte_round_trip(http: HttpClient, serve: Serve, chunked: bool) -> None:
    def echo(request: Request) -> Answer:
        if not chunked:
            return Answer([ok(request.body)])
        body = request.body
        pieces = [
            b"%x\r\n" % len(body[i : i + 100_000]) + body[i : i + 100_000] + b"\r\n"
            for i in range(0, len(body), 100_000)
        ]
        head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        return Answer([head, *pieces, b"0\r\n\r\n"])

    server = await serve(echo)
    payload = bytes(range(256)) * (6 * 1024 * 1024 // 256)
    result = await call(target_for(http, server), server, payload)
    assert result.body == payload
    assert server.requests[0].body == payload


async def test_close_closes_every_connection_and_the_client_stays_usable(
    http: HttpClient, serve: Serve
) -> None:
    server = await serve(lambda request: Answer([ok()], delay_s=0.3 * (request.body == b"slow")))
    target = target_for(http, server)
    await asyncio.gather(call(target, server), call(target, server))  # two pooled connections
    in_flight = asyncio.ensure_future(call(target, server, b"slow"))  # takes one of them
    while len(server.requests) < 3:
        await asyncio.sleep(0.01)
    await http.close()
    with pytest.raises(ClientClosedError):
        await in_flight
    await asyncio.sleep(0.05)
    assert server.closed_by_client == 1  # the idle one (the busy one was closed mid-answer)
    assert (await call(target, server)).body == b"hello"
    assert server.connections == 3


async def test_http_target_through_a_proxy_with_credentials(http: HttpClient, serve: Serve) -> None:
    proxy = await serve(lambda request: Answer([ok(b"proxied")]))
    target = http.post_target(
        scheme="http",
        host="lambda.example.invalid",
        port=8080,
        path=PATH,
        keepalive_s=60,
        proxy_url=f"http://user:p%40ss@127.0.0.1:{proxy.port}",
    )
    result = await target.post({"Host": "lambda.example.invalid:8080"}, b"{}")
    assert result.body == b"proxied"
    [request] = proxy.requests
    assert request.request_line == f"POST http://lambda.example.invalid:8080{PATH} HTTP/1.1"
    assert request.header("Proxy-Authorization") == "Basic " + base64.b64encode(
        b"user:p@ss"
    ).decode("ascii")


async def test_connect_refused_by_the_proxy(http: HttpClient, serve: Serve) -> None:
    refusal = b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n"
    proxy = await serve(lambda request: Answer([refusal]))
    target = http.post_target(
        scheme="https",
        host="lambda.example.invalid",
        port=443,
        path=PATH,
        keepalive_s=60,
        proxy_url=f"http://user:pw@127.0.0.1:{proxy.port}",
    )
    with pytest.raises(ProxyRefusedError) as caught:
        await target.post({"Host": "lambda.example.invalid"}, b"{}")
    assert (caught.value.status, caught.value.reason) == (407, "Proxy Authentication Required")
    [request] = proxy.requests
    assert request.request_line == "CONNECT lambda.example.invalid:443 HTTP/1.1"
    assert request.header("Host") == "lambda.example.invalid:443"
    assert request.header("Proxy-Authorization") == "Basic dXNlcjpwdw=="


async def test_host_names_are_looked_up_once_and_every_address_is_tried(
    http: HttpClient, serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A burst of new connections shares one lookup; an address that refuses (127.0.0.2:
    nobody listens there) is skipped for the next one."""
    server = await serve(lambda request: Answer([ok()], delay_s=0.1))
    loop = asyncio.get_running_loop()
    real_getaddrinfo = loop.getaddrinfo
    lookups: list[str] = []

    async def getaddrinfo(host: str, port: int, **kwargs: Any) -> list[Any]:
        lookups.append(host)
        answers = await real_getaddrinfo("127.0.0.1", port, **kwargs)
        refusing = [(*answer[:4], ("127.0.0.2", port)) for answer in answers]
        return refusing + answers

    monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)
    target = http.post_target(
        scheme="http", host="lambda.test", port=server.port, path=PATH, keepalive_s=60
    )
    results = await asyncio.gather(*(call(target, server) for _ in range(20)))
    assert {result.body for result in results} == {b"hello"}
    assert lookups == ["lambda.test"]
    assert server.connections == 20


async def test_failed_lookup_is_a_connect_error_and_not_cached(
    http: HttpClient, serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = await serve(lambda request: Answer([ok()]))
    loop = asyncio.get_running_loop()
    real_getaddrinfo = loop.getaddrinfo
    failures = [socket.gaierror(socket.EAI_NONAME, "Name or service not known")]

    async def getaddrinfo(host: str, port: int, **kwargs: Any) -> list[Any]:
        if failures:
            raise failures.pop()
        return await real_getaddrinfo("127.0.0.1", port, **kwargs)

    monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)
    target = http.post_target(
        scheme="http", host="lambda.test", port=server.port, path=PATH, keepalive_s=60
    )
    with pytest.raises(ConnectError) as caught:
        await call(target, server)
    assert isinstance(caught.value.os_error, socket.gaierror)
    assert (await call(target, server)).body == b"hello"


async def test_tls_keep_alive_and_a_server_closing_an_idle_connection(tmp_path: Path) -> None:
    answers = iter([Answer([ok()]), Answer([ok()], close=True), Answer([ok(b"fresh")])])
    server = await CraftedServer(lambda request: next(answers)).start(server_ssl_context(tmp_path))
    http = HttpClient(verify_tls=False)
    target = http.post_target(
        scheme="https", host="127.0.0.1", port=server.port, path=PATH, keepalive_s=60
    )
    try:
        await call(target, server)
        await call(target, server)  # same connection; the server closes it afterwards
        await asyncio.sleep(0.05)
        assert (await call(target, server)).body == b"fresh"
    finally:
        await http.close()
        await server.close()
    assert [request.connection for request in server.requests] == [1, 1, 2]


@pytest.mark.parametrize(
    "answer",
    [
        [ok(b"x" * 2000)],
        [
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            *[b"200\r\n" + b"x" * 512 + b"\r\n"] * 8,
            b"0\r\n\r\n",
        ],
        [b"HTTP/1.1 200 OK\r\n\r\n", *[b"x" * 300] * 8],
    ],
    ids=["length", "chunked", "until-close"],
)
async def test_response_body_over_max_body_aborts_the_call(
    serve: Serve, answer: list[bytes]
) -> None:
    http = HttpClient(max_body=1024)
    try:
        server = await serve(lambda request: Answer(answer, pause_s=0.01, close=True))
        with pytest.raises(ResponseTooLargeError, match="larger than 1024 bytes"):
            await call(target_for(http, server), server)
        small = await serve(lambda request: Answer([ok(b"x" * 1024)]))
        assert len((await call(target_for(http, small), small)).body) == 1024
    finally:
        await http.close()

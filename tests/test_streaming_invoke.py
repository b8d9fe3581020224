"""InvokeWithResponseStream: our signed request against botocore's, and the event stream
read from a real loopback server that writes genuine event-stream frames over time."""

from __future__ import annotations

import asyncio
import base64
import calendar
import datetime
import ssl
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import botocore.auth
import botocore.session
import pytest
from aiohttp import web
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.eventstream import EventStreamBuffer

from lambdaroute.config import LambdaPluginConfig
from lambdaroute.errors import InvocationError, InvokeTimeoutError, LambdaServiceError
from lambdaroute.signing import AwsCredentials
from lambdaroute.streaming import httpstream
from lambdaroute.streaming.eventstream import EventStreamDecodeError, EventStreamDecoder
from lambdaroute.streaming.invoke import (
    LambdaStreamClient,
    ResponseStream,
    ResponseStreamError,
    streaming_endpoint,
    streaming_signer,
)
from tests import eventstream_frames as frames
from tests.fakeaws import ConnectProxy, KeyStore, aws_error, check_signature, server_ssl_context

KEY = AwsCredentials("AKIDSTREAM", "stream-secret")
EVENTSTREAM = "application/vnd.amazon.eventstream"

Script = Callable[[web.StreamResponse], Awaitable[None]]


class StreamingLambda:
    """Serves response-streaming-invocations; checks signatures; ``scripts[name]`` writes
    the answer's frames (or answers an error)."""

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self._ssl_context = ssl_context
        self.keys = KeyStore()
        self.keys.add(KEY.access_key, KEY.secret_key)
        self.scripts: dict[str, Script] = {}
        self.received: list[web.Request] = []
        self.errors: dict[str, web.Response] = {}
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> StreamingLambda:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, shutdown_timeout=0.1, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self._ssl_context)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def close(self) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        scheme = "https" if self._ssl_context else "http"
        problem = check_signature(
            request, body, self.keys, region="us-east-1", service="lambda", scheme=scheme
        )
        if problem is not None:
            return aws_error(403, *problem)
        self.received.append(request)
        name = request.match_info["tail"].split("/")[2]
        if name in self.errors:
            return self.errors[name]
        response = web.StreamResponse(
            headers={"Content-Type": EVENTSTREAM, "X-Amz-Executed-Version": "$LATEST"}
        )
        if request.headers.get("X-Amz-Invocation-Type") == "DryRun":
            response.set_status(204)
            await response.prepare(request)
            return response
        response.enable_chunked_encoding()
        await response.prepare(request)
        await self.scripts[name](response)
        await response.write_eof()
        return response


@pytest.fixture
async def server() -> AsyncIterator[StreamingLambda]:
    lam = await StreamingLambda().start()
    yield lam
    await lam.close()


@pytest.fixture
async def streams() -> AsyncIterator[LambdaStreamClient]:
    client = LambdaStreamClient()
    yield client
    await client.close()


def plugin(server: StreamingLambda, name: str, **changes: object) -> LambdaPluginConfig:
    settings: dict[str, object] = {
        "function_name": name,
        "aws_key": KEY.access_key,
        "aws_secret": KEY.secret_key,
        "aws_region": "us-east-1",
        "host": "127.0.0.1",
        "port": server.port,
        "disable_https": True,
    }
    return LambdaPluginConfig(**{**settings, **changes})  # type: ignore[arg-type]


async def read_all(stream: ResponseStream) -> list[bytes]:
    return [chunk async for chunk in stream]


# --- the signed request, against botocore's own client ----------------------------------


class _Captured(Exception):
    def __init__(self, request: AWSRequest) -> None:
        self.request = request


@pytest.mark.parametrize("function_name", ["f", "arn:aws:lambda:us-west-2:1:function:f:live"])
@pytest.mark.parametrize("qualifier", [None, "7"])
@pytest.mark.parametrize("client_context", [None, base64.b64encode(b'{"custom":{"a":1}}').decode()])
@pytest.mark.parametrize("invocation_type", ["RequestResponse", "DryRun"])
def test_signed_request_matches_botocore(
    function_name: str,
    qualifier: str | None,
    client_context: str | None,
    invocation_type: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    when = datetime.datetime(2026, 11, 26, 10, 40, 41, tzinfo=datetime.UTC)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: when)
    creds = AwsCredentials("ASIAEXAMPLE", "c2VjcmV0/+==", "token+/=")
    client = botocore.session.Session().create_client(
        "lambda",
        region_name="us-west-2",
        endpoint_url="https://lambda.us-west-2.amazonaws.com",
        aws_access_key_id=creds.access_key,
        aws_secret_access_key=creds.secret_key,
        aws_session_token=creds.token,
    )

    def capture(request: AWSRequest, **_: object) -> None:
        raise _Captured(request)

    client.meta.events.register("before-send.lambda.InvokeWithResponseStream", capture)
    params: dict[str, object] = {
        "FunctionName": function_name,
        "Payload": b'{"a": 1}',
        "LogType": "Tail",
        "InvocationType": invocation_type,
    }
    if qualifier:
        params["Qualifier"] = qualifier
    if client_context:
        params["ClientContext"] = client_context
    with pytest.raises(_Captured) as captured:
        client.invoke_with_response_stream(**params)
    expected = captured.value.request

    config = LambdaPluginConfig(
        function_name=function_name,
        qualifier=qualifier,
        host="lambda.us-west-2.amazonaws.com",
        log_type="Tail",
        invocation_type=invocation_type,  # type: ignore[arg-type]
    )
    endpoint = streaming_endpoint(config, "us-west-2", "lambda.us-west-2.amazonaws.com")
    signer = streaming_signer(config, endpoint, client_context=client_context)
    headers = signer.sign(creds, b'{"a": 1}', timestamp=calendar.timegm(when.utctimetuple()))
    assert str(endpoint.url) == expected.url
    for name in ("X-Amz-Invocation-Type", "X-Amz-Log-Type", "X-Amz-Date", "Authorization"):
        value = expected.headers[name]
        assert headers[name] == (value.decode() if isinstance(value, bytes) else value), name
    assert headers.get("X-Amz-Client-Context") == client_context


def test_event_invocation_type_is_refused() -> None:
    config = LambdaPluginConfig(function_name="f", invocation_type="Event", host="h")
    with pytest.raises(InvocationError, match="Event cannot be used"):
        streaming_signer(config, streaming_endpoint(config, "us-east-1", "h"))


# --- the frames: our encoder checked by botocore's decoder, our decoder by botocore's ----


def test_encoder_and_decoder_agree_with_botocore() -> None:
    data = frames.chunk(b"hello") + frames.chunk(b"") + frames.complete("Err", "boom", "bG9n")
    buffer = EventStreamBuffer()
    buffer.add_data(data)
    theirs = [(m.headers, m.payload) for m in buffer]
    decoder = EventStreamDecoder()
    ours = [(m.headers, m.payload) for i in range(len(data)) for m in decoder.feed(data[i : i + 1])]
    assert ours == theirs
    assert theirs[0] == (
        {
            ":event-type": "PayloadChunk",
            ":content-type": "application/octet-stream",
            ":message-type": "event",
        },
        b"hello",
    )
    assert not decoder.partial


def test_decoder_refuses_a_corrupt_frame() -> None:
    data = bytearray(frames.chunk(b"hello"))
    data[-6] ^= 0xFF  # payload byte: the message CRC no longer matches
    with pytest.raises(EventStreamDecodeError, match="Checksum"):
        EventStreamDecoder().feed(bytes(data))
    with pytest.raises(EventStreamDecodeError):  # a garbage prelude, refused before waiting
        EventStreamDecoder().feed(b"\xff" * 12)


# --- streams from a real server ---------------------------------------------------------


async def test_chunks_arrive_one_by_one_as_written(
    server: StreamingLambda, streams: LambdaStreamClient
) -> None:
    released = [asyncio.Event() for _ in range(3)]
    order: list[str] = []

    async def script(response: web.StreamResponse) -> None:
        for i, event in enumerate(released):
            await event.wait()
            order.append(f"wrote {i}")
            await response.write(frames.chunk(f"part {i}".encode()))
        await response.write(frames.complete(log_result=base64.b64encode(b"START\nEND").decode()))

    server.scripts["slow"] = script
    stream = await streams.invoke_stream(plugin(server, "slow", log_type="Tail"), b"{}")
    assert stream.status == 200 and stream.executed_version == "$LATEST"
    received = []
    iterator = aiter(stream)
    for i, event in enumerate(released):
        event.set()
        received.append(await anext(iterator))
        order.append(f"read {i}")
    assert [chunk async for chunk in iterator] == []
    assert received == [b"part 0", b"part 1", b"part 2"]
    assert order == ["wrote 0", "read 0", "wrote 1", "read 1", "wrote 2", "read 2"]
    assert stream.outcome is not None and stream.outcome.ok
    assert stream.outcome.function_logs == "START\nEND"
    assert (stream.chunks, stream.bytes) == (3, 18)
    assert stream.first_byte_ms is not None
    sent = server.received[0]
    assert sent.path == "/2021-11-15/functions/slow/response-streaming-invocations"
    assert sent.headers["X-Amz-Log-Type"] == "Tail"


async def test_invoke_complete_with_error_after_chunks(
    server: StreamingLambda, streams: LambdaStreamClient
) -> None:
    async def script(response: web.StreamResponse) -> None:
        await response.write(frames.chunk(b"partial"))
        await response.write(frames.complete("Unhandled", '{"errorType":"Error"}'))

    server.scripts["fails"] = script
    stream = await streams.invoke_stream(plugin(server, "fails"), b"{}")
    assert await read_all(stream) == [b"partial"]
    assert stream.outcome is not None and not stream.outcome.ok
    assert stream.outcome.error_code == "Unhandled"
    assert stream.outcome.error_details == '{"errorType":"Error"}'


async def test_connection_dropped_mid_stream(
    server: StreamingLambda, streams: LambdaStreamClient
) -> None:
    async def script(response: web.StreamResponse) -> None:
        await response.write(frames.chunk(b"first"))
        half = frames.chunk(b"second")[:10]
        await response.write(half)
        assert response._req is not None and response._req.transport is not None
        response._req.transport.abort()

    server.scripts["drops"] = script
    stream = await streams.invoke_stream(plugin(server, "drops"), b"{}")
    got = []
    with pytest.raises(ResponseStreamError, match="broke") as failure:
        async for chunk in stream:
            got.append(chunk)
    assert got == [b"first"]
    assert failure.value.error_code == "Disconnected"
    assert stream.outcome is not None and stream.outcome.error_code == "Disconnected"


async def test_stream_that_ends_without_invoke_complete(
    server: StreamingLambda, streams: LambdaStreamClient
) -> None:
    async def script(response: web.StreamResponse) -> None:
        await response.write(frames.chunk(b"only"))

    server.scripts["short"] = script
    stream = await streams.invoke_stream(plugin(server, "short"), b"{}")
    with pytest.raises(ResponseStreamError, match="without InvokeComplete"):
        await read_all(stream)


async def test_timeout_before_the_first_byte(
    server: StreamingLambda, streams: LambdaStreamClient
) -> None:
    hold = asyncio.Event()
    server.scripts["silent"] = lambda response: hold.wait()  # type: ignore[assignment,return-value]
    stream = await streams.invoke_stream(plugin(server, "silent", timeout=200), b"{}")
    with pytest.raises(ResponseStreamError, match="no stream data") as failure:
        await read_all(stream)
    assert failure.value.error_code == "Timeout"
    hold.set()


async def test_timeout_before_the_head_is_a_gateway_timeout(
    streams: LambdaStreamClient,
) -> None:
    async def accept_and_hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # never answers; the client gives up and closes
        writer.close()  # else Python 3.12's Server.wait_closed waits for this connection

    silent = await asyncio.start_server(accept_and_hold, "127.0.0.1", 0)
    async with silent:
        config = LambdaPluginConfig(
            function_name="late",
            aws_key=KEY.access_key,
            aws_secret=KEY.secret_key,
            aws_region="us-east-1",
            host="127.0.0.1",
            port=silent.sockets[0].getsockname()[1],
            disable_https=True,
            timeout=150,
        )
        with pytest.raises(InvokeTimeoutError, match="150 ms while calling Lambda"):
            await streams.invoke_stream(config, b"{}")


async def test_exception_event_in_the_stream(
    server: StreamingLambda, streams: LambdaStreamClient
) -> None:
    async def script(response: web.StreamResponse) -> None:
        await response.write(frames.chunk(b"a"))
        await response.write(frames.exception("ServiceException", "internal failure"))

    server.scripts["exc"] = script
    stream = await streams.invoke_stream(plugin(server, "exc"), b"{}")
    with pytest.raises(ResponseStreamError, match="ServiceException: internal failure") as err:
        await read_all(stream)
    assert err.value.error_code == "ServiceException"


async def test_service_error_before_the_stream(
    server: StreamingLambda, streams: LambdaStreamClient
) -> None:
    server.errors["missing"] = aws_error(
        404, "ResourceNotFoundException", "Function not found: missing"
    )
    with pytest.raises(LambdaServiceError) as failure:
        await streams.invoke_stream(plugin(server, "missing"), b"{}")
    assert failure.value.status_code == 502
    assert failure.value.error_type == "ResourceNotFoundException"
    assert failure.value.aws_message == "Function not found: missing"


async def test_bad_signature_is_a_service_error(
    server: StreamingLambda, streams: LambdaStreamClient
) -> None:
    config = plugin(server, "any", aws_secret="wrong")
    with pytest.raises(LambdaServiceError, match="InvalidSignatureException"):
        await streams.invoke_stream(config, b"{}")


async def test_dry_run_is_an_empty_complete_stream(
    server: StreamingLambda, streams: LambdaStreamClient
) -> None:
    stream = await streams.invoke_stream(plugin(server, "f", invocation_type="DryRun"), b"{}")
    assert stream.status == 204
    assert await read_all(stream) == []
    assert stream.outcome is not None and stream.outcome.ok


async def test_botocore_client_reads_the_test_server(server: StreamingLambda) -> None:
    """The frames the tests rely on are what botocore's own client accepts."""

    async def script(response: web.StreamResponse) -> None:
        await response.write(frames.chunk(b"one"))
        await response.write(frames.chunk(b"two"))
        await response.write(frames.complete("Unhandled", "details", "bG9n"))

    server.scripts["boto"] = script

    def call() -> list[dict[str, object]]:
        client = botocore.session.Session().create_client(
            "lambda",
            region_name="us-east-1",
            endpoint_url=f"http://127.0.0.1:{server.port}",
            aws_access_key_id=KEY.access_key,
            aws_secret_access_key=KEY.secret_key,
            config=Config(retries={"max_attempts": 1}),
        )
        answer = client.invoke_with_response_stream(FunctionName="boto", Payload=b"{}")
        return list(answer["EventStream"])

    events = await asyncio.to_thread(call)
    assert events == [
        {"PayloadChunk": {"Payload": b"one"}},
        {"PayloadChunk": {"Payload": b"two"}},
        {
            "InvokeComplete": {
                "ErrorCode": "Unhandled",
                "ErrorDetails": "details",
                "LogResult": "bG9n",
            }
        },
    ]


async def test_100_mb_stream_with_bounded_memory(
    server: StreamingLambda, streams: LambdaStreamClient
) -> None:
    piece = frames.chunk(bytes(64 * 1024))
    count = 1600  # 100 MiB of payload

    async def script(response: web.StreamResponse) -> None:
        for _ in range(count):
            await response.write(piece)
        await response.write(frames.complete())

    server.scripts["big"] = script
    stream = await streams.invoke_stream(plugin(server, "big"), b"{}")
    tracemalloc.start()
    try:
        total = largest = 0
        async for chunk in stream:
            total += len(chunk)
            largest = max(largest, len(chunk))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == count * 64 * 1024
    assert largest == 64 * 1024
    assert peak < 4 * 1024 * 1024, peak  # server and client together (measured ~1.2 MiB)
    assert stream.outcome is not None and stream.outcome.ok


async def test_a_reader_that_does_not_read_pauses_the_socket(
    server: StreamingLambda, streams: LambdaStreamClient
) -> None:
    written = 0

    async def script(response: web.StreamResponse) -> None:
        nonlocal written
        piece = frames.chunk(bytes(32 * 1024))
        for _ in range(200):
            await response.write(piece)
            written += len(piece)
        await response.write(frames.complete())

    server.scripts["flood"] = script
    stream = await streams.invoke_stream(plugin(server, "flood"), b"{}")
    iterator = aiter(stream)
    await anext(iterator)
    await asyncio.sleep(0.3)
    queued = stream._response._protocol._queued
    assert queued <= httpstream.HIGH_WATER + 256 * 1024
    assert written < 200 * 32 * 1024  # the server is held back, not the client's memory
    rest = [chunk async for chunk in iterator]
    assert len(rest) == 199


@pytest.mark.parametrize("through_proxy", [False, True], ids=["direct", "connect-proxy"])
async def test_stream_over_tls_and_through_a_proxy(tmp_path: Path, through_proxy: bool) -> None:
    """The connection http_client.PostTarget.hand_over gives (TLS, CONNECT tunnel then TLS)
    carries the stream once our protocol takes it over."""
    server = await StreamingLambda(server_ssl_context(tmp_path)).start()
    proxy = await ConnectProxy().start()
    client = LambdaStreamClient(verify_tls=False)

    async def script(response: web.StreamResponse) -> None:
        await response.write(frames.chunk(b"secure"))
        await response.write(frames.complete())

    server.scripts["tls"] = script
    config = plugin(
        server, "tls", disable_https=False, proxy_url=proxy.url if through_proxy else None
    )
    try:
        stream = await client.invoke_stream(config, b"{}")
        assert await read_all(stream) == [b"secure"]
        assert stream.outcome is not None and stream.outcome.ok
        if through_proxy:
            assert proxy.request_lines == [f"CONNECT 127.0.0.1:{server.port}"]
    finally:
        await client.close()
        await proxy.close()
        await server.close()


async def test_an_idle_pooled_connection_is_handed_over(server: StreamingLambda) -> None:
    """A connection kept alive by a buffered call to the same endpoint carries the stream;
    it then leaves the pool (the stream's protocol closes it)."""
    from lambdaroute.http_client import HttpClient

    http = HttpClient()
    client = LambdaStreamClient(http=http)

    async def script(response: web.StreamResponse) -> None:
        await response.write(frames.chunk(b"x"))
        await response.write(frames.complete())

    server.scripts["pooled"] = script
    config = plugin(server, "pooled")
    target = http.post_target(
        scheme="http", host="127.0.0.1", port=server.port, path="/ping", keepalive_s=30
    )
    try:
        answer = await target.post({"Host": f"127.0.0.1:{server.port}"}, b"")
        assert answer.status == 403  # unsigned; the connection stays open in the pool
        pool = target._pool
        assert len(pool._idle) == 1
        stream = await client.invoke_stream(config, b"{}")
        assert len(pool._idle) == 0 and len(pool._connections) == 0
        assert await read_all(stream) == [b"x"]
    finally:
        await client.close()
        await http.close()


@pytest.mark.parametrize(
    "answer",
    [b"", b"HTTP/1.1 200 OK\r\nContent-Le", b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"],
    ids=["nothing", "half-head", "short-body"],
)
async def test_server_hanging_up_early_fails_at_once(
    streams: LambdaStreamClient, answer: bytes
) -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(answer)
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    async with server:
        config = LambdaPluginConfig(
            function_name="f",
            aws_key=KEY.access_key,
            aws_secret=KEY.secret_key,
            aws_region="us-east-1",
            host="127.0.0.1",
            port=server.sockets[0].getsockname()[1],
            disable_https=True,
            timeout=5000,
        )
        with pytest.raises(InvocationError, match=r"closed the connection|cut short|broke"):
            stream = await streams.invoke_stream(config, b"{}")
            await read_all(stream)

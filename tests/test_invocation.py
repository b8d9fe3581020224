"""LambdaClient against loopback fakes: signatures checked by the server, errors, TLS,
proxies, timeouts, pooling and concurrency."""

from __future__ import annotations

import asyncio
import dataclasses
import gzip
import json
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from lambdaroute.config import LambdaPluginConfig
from lambdaroute.endpoints import build_endpoint, resolve_lambda_hostname
from lambdaroute.errors import (
    InvocationError,
    InvokeTimeoutError,
    LambdaServiceError,
    NoRegionError,
    TransportError,
)
from lambdaroute.invocation import LambdaClient
from tests.fakeaws import (
    ConnectProxy,
    FakeLambda,
    KeyStore,
    ReceivedInvoke,
    aws_error,
    server_ssl_context,
)

KEY, SECRET = "AKIDSTATIC", "static-secret/+="
ARN = "arn:aws:lambda:us-east-1:123456789012:function:echo"


pytestmark = pytest.mark.usefixtures("isolated_aws_env")


@pytest.fixture
def keys() -> KeyStore:
    store = KeyStore()
    store.add(KEY, SECRET)
    return store


@pytest.fixture
async def tls_fake(keys: KeyStore, tmp_path: Path) -> AsyncIterator[FakeLambda]:
    server = FakeLambda(keys, ssl_context=server_ssl_context(tmp_path))
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def proxy() -> AsyncIterator[ConnectProxy]:
    server = ConnectProxy()
    await server.start()
    yield server
    await server.close()


def plugin_for(server: FakeLambda, **overrides: object) -> LambdaPluginConfig:
    settings: dict[str, object] = {
        "function_name": ARN,
        "aws_key": KEY,
        "aws_secret": SECRET,
        "aws_region": "us-east-1",
        "host": "127.0.0.1",
        "port": server.port,
        "disable_https": server.scheme == "http",
        **overrides,
    }
    return LambdaPluginConfig(**settings)  # type: ignore[arg-type]


async def test_invoke_sends_a_signed_request_botocore_accepts(
    fake: FakeLambda, client: LambdaClient
) -> None:
    payload = b'{"hello": "world"}'
    result = await client.invoke(plugin_for(fake, qualifier="$LATEST"), payload)

    assert result.status == 200
    assert json.loads(result.body)["payload"] == payload.decode()
    assert (result.function_name, result.qualifier) == (ARN, "$LATEST")
    assert ("X-Amz-Executed-Version", "$LATEST") in result.headers
    assert result.duration_ms > 0
    [received] = fake.received
    assert received.raw_path == (
        "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Aecho"
        "/invocations?Qualifier=%24LATEST"
    )
    assert received.header("Host") == f"127.0.0.1:{fake.port}"
    assert received.header("X-Amz-Invocation-Type") == "RequestResponse"
    assert received.header("X-Amz-Log-Type") == "Tail"
    assert received.header("Content-Length") == str(len(payload))
    assert (received.header("User-Agent") or "").startswith("lambda-route/")
    assert received.header("Content-Type") is None
    assert received.header("X-Amz-Security-Token") is None
    assert received.body == payload


async def test_wrong_secret_is_rejected_by_the_signature_check(
    fake: FakeLambda, client: LambdaClient
) -> None:
    with pytest.raises(LambdaServiceError) as caught:
        await client.invoke(plugin_for(fake, aws_secret="not-the-secret"), b"{}")
    error = caught.value
    assert (error.invoke_status, error.status_code) == (403, 502)
    assert error.error_type == "InvalidSignatureException"
    assert "signature" in error.aws_message
    assert "not-the-secret" not in str(error)
    assert fake.received == []


@pytest.mark.parametrize(("invocation_type", "status"), [("Event", 202), ("DryRun", 204)])
async def test_event_and_dry_run(
    fake: FakeLambda, client: LambdaClient, invocation_type: str, status: int
) -> None:
    result = await client.invoke(
        plugin_for(fake, invocation_type=invocation_type, log_type="None"), b"{}"
    )
    assert (result.status, result.body) == (status, b"")
    assert fake.received[0].header("X-Amz-Log-Type") == "None"


async def test_headers_kept_with_repeats_and_body_untouched(
    fake: FakeLambda, client: LambdaClient
) -> None:
    compressed = gzip.compress(b'{"statusCode": 200}')

    async def handler(request: web.Request, received: ReceivedInvoke) -> web.Response:
        response = web.Response(body=compressed, headers={"Content-Encoding": "gzip"})
        response.headers.add("X-Repeat", "one")
        response.headers.add("X-Repeat", "two")
        return response

    fake.handlers[ARN] = handler
    result = await client.invoke(plugin_for(fake), b"{}")
    assert result.body == compressed
    assert [value for name, value in result.headers if name == "X-Repeat"] == ["one", "two"]


@pytest.mark.parametrize(
    ("response", "status_code", "error_type", "message", "retry_after"),
    [
        (
            aws_error(
                404,
                "ResourceNotFoundException",
                f"Function not found: {ARN}",
                **{"x-amzn-RequestId": "req-1"},
            ),
            502,
            "ResourceNotFoundException",
            f"Function not found: {ARN}",
            None,
        ),
        (
            aws_error(429, "TooManyRequestsException", "Rate Exceeded.", **{"Retry-After": "7"}),
            429,
            "TooManyRequestsException",
            "Rate Exceeded.",
            "7",
        ),
        (
            web.json_response(
                {
                    "__type": "com.amazon#RequestTooLargeException",
                    "message": "Request must be smaller",
                },
                status=413,
            ),
            502,
            "RequestTooLargeException",
            "Request must be smaller",
            None,
        ),
        (
            web.Response(
                status=500, text="<html>Internal   failure</html>", content_type="text/html"
            ),
            502,
            "500",
            "<html>Internal failure</html>",
            None,
        ),
    ],
    ids=["404", "429", "413", "non-json"],
)
async def test_service_errors(
    fake: FakeLambda,
    client: LambdaClient,
    response: web.Response,
    status_code: int,
    error_type: str,
    message: str,
    retry_after: str | None,
) -> None:
    async def handler(request: web.Request, received: ReceivedInvoke) -> web.Response:
        return response

    fake.handlers[ARN] = handler
    with pytest.raises(LambdaServiceError) as caught:
        await client.invoke(plugin_for(fake), b"{}")
    error = caught.value
    assert error.invoke_status == response.status
    assert (error.status_code, error.error_type, error.aws_message) == (
        status_code,
        error_type,
        message,
    )
    assert error.retry_after == retry_after
    assert error_type in error.detail
    if response.status == 404:
        assert error.request_id == "req-1"


async def test_missing_function_name(fake: FakeLambda, client: LambdaClient) -> None:
    with pytest.raises(InvocationError) as caught:
        await client.invoke(plugin_for(fake, function_name=None), b"{}")
    assert type(caught.value) is InvocationError
    assert caught.value.status_code == 500
    assert "function_name" in caught.value.detail


async def test_no_region_even_with_host(fake: FakeLambda, client: LambdaClient) -> None:
    with pytest.raises(NoRegionError) as caught:
        await client.invoke(plugin_for(fake, aws_region=None), b"{}")
    assert caught.value.status_code == 500


@pytest.mark.parametrize("variable", ["AWS_REGION", "AWS_DEFAULT_REGION"])
async def test_region_from_env(
    fake: FakeLambda, client: LambdaClient, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.setenv(variable, "us-east-1")
    result = await client.invoke(plugin_for(fake, aws_region=None), b"{}")
    assert result.status == 200


@pytest.mark.parametrize(
    ("region", "hostname"),
    [
        ("us-east-1", "lambda.us-east-1.amazonaws.com"),
        ("cn-north-1", "lambda.cn-north-1.amazonaws.com.cn"),
        ("us-gov-west-1", "lambda.us-gov-west-1.amazonaws.com"),
        ("us-iso-east-1", "lambda.us-iso-east-1.c2s.ic.gov"),
    ],
)
def test_endpoint_resolution_is_partition_aware(region: str, hostname: str) -> None:
    assert resolve_lambda_hostname(region) == hostname
    endpoint = build_endpoint(LambdaPluginConfig(function_name="f"), region, hostname)
    assert str(endpoint.url) == f"https://{hostname}/2015-03-31/functions/f/invocations"
    assert endpoint.host_header == hostname


async def test_endpoint_resolved_once_for_concurrent_first_requests(
    fake: FakeLambda, client: LambdaClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without ``host`` the botocore lookup runs once per region, not once per request."""
    lookups: list[str] = []

    def loopback_lookup(region: str) -> str:
        lookups.append(region)
        return "127.0.0.1"

    monkeypatch.setattr("lambdaroute.invoke_target.resolve_lambda_hostname", loopback_lookup)
    plugin = plugin_for(fake, host=None)
    results = await asyncio.gather(*(client.invoke(plugin, b"{}") for _ in range(20)))
    await client.invoke(dataclasses.replace(plugin, function_name="other"), b"{}")
    assert {result.status for result in results} == {200}
    assert lookups == ["us-east-1"]
    assert fake.received[0].header("Host") == f"127.0.0.1:{fake.port}"


async def test_invalid_region_is_a_clear_error(client: LambdaClient) -> None:
    plugin = LambdaPluginConfig(
        function_name="f", aws_key=KEY, aws_secret=SECRET, aws_region="bad region!"
    )
    with pytest.raises(InvocationError, match="cannot resolve the Lambda endpoint") as caught:
        await client.invoke(plugin, b"{}")
    assert caught.value.status_code == 500


def test_endpoint_resolution_honours_fips(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_USE_FIPS_ENDPOINT", "true")
    assert resolve_lambda_hostname("us-east-1") == "lambda-fips.us-east-1.amazonaws.com"


async def test_timeout_bounds_the_call_and_never_retries(
    fake: FakeLambda, client: LambdaClient
) -> None:
    release = asyncio.Event()

    async def stuck(request: web.Request, received: ReceivedInvoke) -> web.Response:
        await release.wait()
        return web.Response(text="late")

    fake.handlers[ARN] = stuck
    with pytest.raises(InvokeTimeoutError) as caught:
        await client.invoke(plugin_for(fake, timeout=200), b"{}")
    assert caught.value.status_code == 504
    assert "200 ms" in caught.value.detail
    release.set()
    await asyncio.sleep(0.3)
    assert len(fake.received) == 1


async def test_connection_refused(client: LambdaClient) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    plugin = LambdaPluginConfig(
        function_name="f",
        aws_key=KEY,
        aws_secret=SECRET,
        aws_region="us-east-1",
        host="127.0.0.1",
        port=port,
        disable_https=True,
    )
    with pytest.raises(TransportError) as caught:
        await client.invoke(plugin, b"{}")
    assert caught.value.status_code == 502
    assert f"cannot connect to 127.0.0.1:{port}" in caught.value.detail


async def test_server_disconnect_is_a_transport_error_and_not_retried(
    fake: FakeLambda, client: LambdaClient
) -> None:
    async def hang_up(request: web.Request, received: ReceivedInvoke) -> web.Response:
        assert request.transport is not None
        request.transport.close()
        return web.Response()

    fake.handlers[ARN] = hang_up
    with pytest.raises(TransportError) as caught:
        await client.invoke(plugin_for(fake), b"{}")
    assert "closed the connection" in caught.value.detail
    assert len(fake.received) == 1


async def test_tls_verification_on_by_default(tls_fake: FakeLambda, client: LambdaClient) -> None:
    with pytest.raises(TransportError) as caught:
        await client.invoke(plugin_for(tls_fake), b"{}")
    assert "TLS certificate verification failed" in caught.value.detail
    assert tls_fake.received == []


async def test_tls_verification_off(tls_fake: FakeLambda) -> None:
    client = LambdaClient(verify_tls=False)
    try:
        result = await client.invoke(plugin_for(tls_fake), b"{}")
    finally:
        await client.close()
    assert result.status == 200
    assert tls_fake.received[0].header("Host") == f"127.0.0.1:{tls_fake.port}"


async def test_https_through_a_connect_proxy(tls_fake: FakeLambda, proxy: ConnectProxy) -> None:
    client = LambdaClient(verify_tls=False)
    try:
        result = await client.invoke(plugin_for(tls_fake, proxy_url=proxy.url), b"{}")
    finally:
        await client.close()
    assert result.status == 200
    assert proxy.request_lines == [f"CONNECT 127.0.0.1:{tls_fake.port}"]


async def test_http_through_a_proxy_in_absolute_form(
    fake: FakeLambda, proxy: ConnectProxy, client: LambdaClient
) -> None:
    result = await client.invoke(plugin_for(fake, proxy_url=proxy.url), b"{}")
    assert result.status == 200
    [line] = proxy.request_lines
    assert line == f"POST http://127.0.0.1:{fake.port}{fake.received[0].raw_path}"
    assert "%3A" in line


async def test_unreachable_proxy(fake: FakeLambda, client: LambdaClient) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(TransportError) as caught:
        await client.invoke(plugin_for(fake, proxy_url=f"http://user:pw@127.0.0.1:{port}"), b"{}")
    assert f"proxy 127.0.0.1:{port}" in caught.value.detail
    assert "pw" not in caught.value.detail


async def test_connections_are_kept_alive_and_reused(
    fake: FakeLambda, client: LambdaClient
) -> None:
    plugin = plugin_for(fake)
    for _ in range(3):
        await client.invoke(plugin, b"{}")
    assert len({received.client_port for received in fake.received}) == 1


async def test_keepalive_zero_closes_connections(fake: FakeLambda, client: LambdaClient) -> None:
    plugin = plugin_for(fake, keepalive=0)
    for _ in range(3):
        await client.invoke(plugin, b"{}")
    assert len({received.client_port for received in fake.received}) == 3


async def test_equal_configs_share_the_pool(fake: FakeLambda, client: LambdaClient) -> None:
    """Two plugin objects (e.g. after a config reload) reuse the same pooled connection."""
    await client.invoke(plugin_for(fake), b"{}")
    await client.invoke(dataclasses.replace(plugin_for(fake), function_name="other"), b"{}")
    assert len({received.client_port for received in fake.received}) == 1


async def test_many_invocations_in_flight_at_once(fake: FakeLambda, client: LambdaClient) -> None:
    async def slow(request: web.Request, received: ReceivedInvoke) -> web.Response:
        await asyncio.sleep(0.5)
        return web.json_response({"ok": True})

    fake.handlers[ARN] = slow
    plugin = plugin_for(fake)
    results = await asyncio.gather(*(client.invoke(plugin, b"{}") for _ in range(300)))
    assert {result.status for result in results} == {200}
    assert fake.max_in_flight == 300


async def test_close_then_invoke_again(fake: FakeLambda) -> None:
    client = LambdaClient()
    await client.invoke(plugin_for(fake), b"{}")
    await client.close()
    result = await client.invoke(plugin_for(fake), b"{}")
    await client.close()
    assert result.status == 200

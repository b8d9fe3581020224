"""Our SigV4 signer and Invoke URL against botocore's own Lambda client, byte for byte."""

from __future__ import annotations

import calendar
import datetime

import botocore.auth
import botocore.session
import pytest
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from lambdaroute.config import LambdaPluginConfig
from lambdaroute.endpoints import build_endpoint
from lambdaroute.invocation import invoke_signer
from lambdaroute.signing import AwsCredentials, RequestSigner, signing_key

USER_AGENT = "lambda-route/test"

NAMES = [
    "my-function",
    "my-function:v1",
    "123456789012:function:my-function",
    "arn:aws:lambda:us-west-2:123456789012:function:my-function",
    "arn:aws:lambda:us-west-2:123456789012:function:my-function:live",
    "odd name/with~chars+$",
]


class _Captured(Exception):
    def __init__(self, request: AWSRequest) -> None:
        self.request = request


def botocore_invoke_request(
    *,
    when: datetime.datetime,
    endpoint_url: str,
    credentials: AwsCredentials,
    function_name: str,
    qualifier: str | None,
    payload: bytes,
    invocation_type: str,
    log_type: str,
    monkeypatch: pytest.MonkeyPatch,
) -> AWSRequest:
    """The request botocore's Lambda client sends, signed at ``when``, without the SDK's
    own bookkeeping headers (amz-sdk-*), which we do not send."""
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: when)
    client = botocore.session.Session().create_client(
        "lambda",
        region_name="us-west-2",
        endpoint_url=endpoint_url,
        aws_access_key_id=credentials.access_key,
        aws_secret_access_key=credentials.secret_key,
        aws_session_token=credentials.token,
    )

    def strip_sdk_headers(request: AWSRequest, **_: object) -> None:
        for name in [n for n in request.headers if n.lower().startswith("amz-sdk-")]:
            del request.headers[name]
        request.headers["User-Agent"] = USER_AGENT

    def capture(request: AWSRequest, **_: object) -> None:
        raise _Captured(request)

    client.meta.events.register("before-sign.lambda.Invoke", strip_sdk_headers)
    client.meta.events.register("before-send.lambda.Invoke", capture)
    params: dict[str, object] = {
        "FunctionName": function_name,
        "Payload": payload,
        "InvocationType": invocation_type,
        "LogType": log_type,
    }
    if qualifier:
        params["Qualifier"] = qualifier
    with pytest.raises(_Captured) as captured:
        client.invoke(**params)
    return captured.value.request


def our_request(
    *,
    when: datetime.datetime,
    plugin: LambdaPluginConfig,
    credentials: AwsCredentials,
    payload: bytes,
) -> tuple[str, dict[str, str]]:
    endpoint = build_endpoint(plugin, "us-west-2", plugin.host or "")
    signer = invoke_signer(plugin, endpoint, user_agent=USER_AGENT)
    timestamp = calendar.timegm(when.utctimetuple())
    return str(endpoint.url), signer.sign(credentials, payload, timestamp=timestamp)


WHEN = datetime.datetime(2026, 11, 26, 10, 40, 41, tzinfo=datetime.UTC)
STATIC = AwsCredentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
SESSION = AwsCredentials("ASIAEXAMPLE", "c2VjcmV0/+==", "FwoGZXIvYXdzEJr//////////token+/=")


def assert_same(botocore_request: AWSRequest, url: str, headers: dict[str, str]) -> None:
    assert url == botocore_request.url
    for name in ("X-Amz-Date", "X-Amz-Invocation-Type", "X-Amz-Log-Type", "Authorization"):
        assert headers[name] == _text(botocore_request.headers[name]), name
    token = botocore_request.headers.get("X-Amz-Security-Token")
    assert headers.get("X-Amz-Security-Token") == (_text(token) if token else None)


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


@pytest.mark.parametrize("function_name", NAMES)
@pytest.mark.parametrize("qualifier", [None, "$LATEST", "7", "live-alias"])
@pytest.mark.parametrize("credentials", [STATIC, SESSION], ids=["static", "session-token"])
def test_matches_botocore_client(
    function_name: str,
    qualifier: str | None,
    credentials: AwsCredentials,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    payload = b'{"key": "value", "n": 1}'
    plugin = LambdaPluginConfig(
        function_name=function_name,
        qualifier=qualifier,
        host="lambda.us-west-2.amazonaws.com",
    )
    expected = botocore_invoke_request(
        when=WHEN,
        endpoint_url="https://lambda.us-west-2.amazonaws.com",
        credentials=credentials,
        function_name=function_name,
        qualifier=qualifier,
        payload=payload,
        invocation_type="RequestResponse",
        log_type="Tail",
        monkeypatch=monkeypatch,
    )
    assert_same(
        expected, *our_request(when=WHEN, plugin=plugin, credentials=credentials, payload=payload)
    )


@pytest.mark.parametrize(
    "payload", [b"", b"{}", bytes(range(256)) * 40], ids=["empty", "{}", "10k"]
)
@pytest.mark.parametrize(
    ("endpoint_url", "host", "port", "disable_https", "host_header"),
    [
        ("http://127.0.0.1:9001", "127.0.0.1", 9001, True, "127.0.0.1:9001"),
        ("https://lambda.local:8443", "lambda.local", 8443, False, "lambda.local:8443"),
        ("http://lambda.local", "lambda.local", 80, True, "lambda.local"),
        ("https://Lambda.Local", "Lambda.Local", 443, False, "lambda.local"),
        ("http://[::1]:9001", "::1", 9001, True, "[::1]:9001"),
    ],
)
def test_matches_botocore_bodies_ports_and_types(
    payload: bytes,
    endpoint_url: str,
    host: str,
    port: int,
    disable_https: bool,
    host_header: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    plugin = LambdaPluginConfig(
        function_name="arn:aws:lambda:us-west-2:123456789012:function:f",
        qualifier="$LATEST",
        invocation_type="Event",
        log_type="None",
        host=host,
        port=port,
        disable_https=disable_https,
    )
    expected = botocore_invoke_request(
        when=WHEN,
        endpoint_url=endpoint_url,
        credentials=SESSION,
        function_name="arn:aws:lambda:us-west-2:123456789012:function:f",
        qualifier="$LATEST",
        payload=payload,
        invocation_type="Event",
        log_type="None",
        monkeypatch=monkeypatch,
    )
    url, headers = our_request(when=WHEN, plugin=plugin, credentials=SESSION, payload=payload)
    assert url == expected.url.replace("Lambda.Local", "lambda.local")
    assert headers["Host"] == host_header
    assert headers["Authorization"] == _text(expected.headers["Authorization"])


def test_key_cache_follows_the_date(monkeypatch: pytest.MonkeyPatch) -> None:
    """Signing just before and after midnight UTC uses two keys, both as botocore does."""
    plugin = LambdaPluginConfig(function_name="f", host="lambda.us-west-2.amazonaws.com")
    for when in (
        datetime.datetime(2026, 11, 26, 23, 59, 59, tzinfo=datetime.UTC),
        datetime.datetime(2026, 11, 27, 0, 0, 1, tzinfo=datetime.UTC),
        datetime.datetime(2026, 11, 26, 23, 59, 58, tzinfo=datetime.UTC),
    ):
        expected = botocore_invoke_request(
            when=when,
            endpoint_url="https://lambda.us-west-2.amazonaws.com",
            credentials=STATIC,
            function_name="f",
            qualifier=None,
            payload=b"{}",
            invocation_type="RequestResponse",
            log_type="Tail",
            monkeypatch=monkeypatch,
        )
        assert_same(
            expected, *our_request(when=when, plugin=plugin, credentials=STATIC, payload=b"{}")
        )
    assert signing_key.cache_info().hits >= 1


def test_matches_sigv4auth_with_repeated_spaces_and_unsigned_headers() -> None:
    """Header values are trimmed as SigV4 requires; User-Agent and X-Amzn-Trace-Id unsigned."""
    headers = {
        "Host": "example.amazonaws.com",
        "X-Amz-Invocation-Type": "  Request   Response ",
        "User-Agent": "ua",
        "X-Amzn-Trace-Id": "Root=1-abc",
    }
    request = AWSRequest(
        method="POST",
        url="https://example.amazonaws.com/a/b%3Ac/../d?b=2&a=1",
        headers=dict(headers),
        data=b"body",
    )
    request.context["timestamp"] = "20260101T000000Z"
    auth = botocore.auth.SigV4Auth(Credentials("AK", "SK", "TOK"), "lambda", "eu-west-1")
    request.headers["X-Amz-Date"] = "20260101T000000Z"
    request.headers["X-Amz-Security-Token"] = "TOK"
    canonical = auth.canonical_request(request)
    signature = auth.signature(auth.string_to_sign(request, canonical), request)

    signer = RequestSigner(
        method="POST", path="/a/b%3Ac/../d", query="b=2&a=1", headers=headers, region="eu-west-1"
    )
    ours = signer.sign(AwsCredentials("AK", "SK", "TOK"), b"body", timestamp=1767225600)
    assert ours["Authorization"].endswith(f"Signature={signature}")
    assert (
        "SignedHeaders=host;x-amz-date;x-amz-invocation-type;x-amz-security-token,"
        in (ours["Authorization"])
    )

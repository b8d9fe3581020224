"""Response shaping: Kong's rules (reference section 4) and our deliberate differences."""

from __future__ import annotations

import base64
import json

import pytest

from lambdaroute.config import LambdaPluginConfig
from lambdaroute.errors import (
    BadLambdaResponseError,
    CredentialsError,
    InvokeTimeoutError,
    LambdaServiceError,
    NoRegionError,
    TransportError,
)
from lambdaroute.invocation import InvokeResult
from lambdaroute.responses import PRODUCT, error_response, shape_response, via_header

LAMBDA_HEADERS = (
    ("Date", "Thu, 26 Nov 2026 10:00:00 GMT"),
    ("Content-Type", "application/json"),
    ("Content-Length", "999"),
    ("Connection", "keep-alive"),
    ("x-amzn-RequestId", "9f4a1c1e-0000-4000-8000-000000000001"),
    ("X-Amz-Executed-Version", "$LATEST"),
    ("X-Amzn-Trace-Id", "root=1-abc;sampled=0"),
)


def result(
    body: bytes = b'{"ok":true}', *, status: int = 200, headers: tuple = LAMBDA_HEADERS
) -> InvokeResult:
    return InvokeResult(
        status=status,
        headers=headers,
        body=body,
        duration_ms=1.0,
        function_name="fn",
        qualifier=None,
    )


def names(headers: tuple[tuple[str, str], ...]) -> list[str]:
    return [name.lower() for name, _ in headers]


def test_status_headers_and_body_pass_through_byte_for_byte() -> None:
    body = b'{"b": [], "a": 1.50,\n "z": "\\u00e9"}\n'
    shaped = shape_response(LambdaPluginConfig(), result(body), client_http_version="HTTP/1.1")
    assert shaped.status == 200
    assert shaped.body == body
    assert "content-length" not in names(shaped.headers)
    assert "connection" not in names(shaped.headers)
    assert ("x-amzn-RequestId", "9f4a1c1e-0000-4000-8000-000000000001") in shaped.headers
    assert ("X-Amz-Executed-Version", "$LATEST") in shaped.headers


@pytest.mark.parametrize("status", [200, 202, 204])
def test_lambda_status_is_kept(status: int) -> None:
    shaped = shape_response(
        LambdaPluginConfig(), result(b"", status=status), client_http_version="HTTP/1.1"
    )
    assert shaped.status == status
    assert shaped.body == b""


def test_hop_by_hop_headers_are_dropped() -> None:
    hop = (
        ("Keep-Alive", "timeout=5"),
        ("Proxy-Connection", "x"),
        ("Upgrade", "h2c"),
        ("Transfer-Encoding", "chunked"),
        ("TE", "trailers"),
        ("Trailer", "x"),
    )
    shaped = shape_response(
        LambdaPluginConfig(), result(headers=LAMBDA_HEADERS + hop), client_http_version="HTTP/1.1"
    )
    assert not {
        "keep-alive",
        "proxy-connection",
        "upgrade",
        "transfer-encoding",
        "te",
        "trailer",
    } & set(names(shaped.headers))


@pytest.mark.parametrize(
    ("client_version", "via"),
    [("HTTP/1.1", "1.1"), ("HTTP/1.0", "1.0"), ("HTTP/2.0", "2"), ("HTTP/3", "3")],
)
def test_via_names_the_project_and_the_clients_real_http_version(
    client_version: str, via: str
) -> None:
    assert via_header(client_version) == f"{via} {PRODUCT}"
    shaped = shape_response(LambdaPluginConfig(), result(), client_http_version=client_version)
    assert ("Via", f"{via} {PRODUCT}") in shaped.headers
    assert PRODUCT.startswith("lambda-route")


def test_via_is_appended_to_an_existing_via() -> None:
    shaped = shape_response(
        LambdaPluginConfig(),
        result(headers=LAMBDA_HEADERS + (("Via", "1.1 edge"),)),
        client_http_version="HTTP/1.1",
    )
    vias = [v for k, v in shaped.headers if k.lower() == "via"]
    assert vias == [f"1.1 edge, 1.1 {PRODUCT}"]


def test_function_logs_never_reach_the_client_but_are_decoded() -> None:
    tail = "START RequestId: 1 Version: $LATEST\nhello from the function\nEND RequestId: 1\n"
    headers = LAMBDA_HEADERS + (("X-Amz-Log-Result", base64.b64encode(tail.encode()).decode()),)
    shaped = shape_response(
        LambdaPluginConfig(), result(headers=headers), client_http_version="HTTP/1.1"
    )
    assert "x-amz-log-result" not in names(shaped.headers)
    assert shaped.function_logs == tail


def test_unhandled_status_applies_only_to_unhandled_function_errors() -> None:
    error_body = b'{"errorMessage":"boom","errorType":"Exception","stackTrace":[]}'
    unhandled = LAMBDA_HEADERS + (("X-Amz-Function-Error", "Unhandled"),)
    plugin = LambdaPluginConfig(unhandled_status=412)
    shaped = shape_response(
        plugin, result(error_body, headers=unhandled), client_http_version="HTTP/1.1"
    )
    assert shaped.status == 412
    assert shaped.function_error == "Unhandled"
    assert ("X-Amz-Function-Error", "Unhandled") in shaped.headers  # as Kong: still forwarded
    assert shaped.body == error_body

    handled = LAMBDA_HEADERS + (("X-Amz-Function-Error", "Handled"),)
    assert (
        shape_response(
            plugin, result(error_body, headers=handled), client_http_version="HTTP/1.1"
        ).status
        == 200
    )
    assert (
        shape_response(
            LambdaPluginConfig(),
            result(error_body, headers=unhandled),
            client_http_version="HTTP/1.1",
        ).status
        == 200
    )


def test_empty_arrays_mode_correct_is_our_default() -> None:
    body = b'{"statusCode":200,"testbody":[],"nested":{"x":[]}}'
    shaped = shape_response(LambdaPluginConfig(), result(body), client_http_version="HTTP/1.1")
    assert shaped.body == body


def test_empty_arrays_mode_legacy_turns_empty_arrays_into_objects_for_json() -> None:
    body = b'{"statusCode":200,"testbody":[],"nested":{"x":[], "y":[1]}}'
    plugin = LambdaPluginConfig(empty_arrays_mode="legacy")
    shaped = shape_response(plugin, result(body), client_http_version="HTTP/1.1")
    assert json.loads(shaped.body) == {
        "statusCode": 200,
        "testbody": {},
        "nested": {"x": {}, "y": [1]},
    }

    text_headers = (("Content-Type", "text/plain"),)
    assert (
        shape_response(
            plugin, result(body, headers=text_headers), client_http_version="HTTP/1.1"
        ).body
        == body
    )


def error_document(shaped) -> dict:
    assert ("Content-Type", "application/json; charset=utf-8") in shaped.headers
    return json.loads(shaped.body)


@pytest.mark.parametrize(
    ("error", "status", "message"),
    [
        (InvokeTimeoutError("Lambda invocation timed out after 100 ms"), 504, "Gateway Timeout"),
        (
            TransportError("could not connect to http://127.0.0.1:1: connection refused"),
            502,
            "Bad Gateway",
        ),
        (NoRegionError("no region specified"), 500, "No AWS region configured"),
        (
            CredentialsError("no credentials found in the default chain"),
            500,
            "No AWS credentials available",
        ),
    ],
)
def test_errors_are_json_with_a_message_the_cause_and_a_request_id(error, status, message) -> None:
    shaped = error_response(error, "req-1")
    assert shaped.status == status
    document = error_document(shaped)
    assert document == {"message": message, "error": error.detail, "request_id": "req-1"}


def test_lambda_service_errors_name_the_aws_error() -> None:
    error = LambdaServiceError(
        "Invoke API answered 404",
        invoke_status=404,
        error_type="ResourceNotFoundException",
        aws_message="Function not found: arn:aws:lambda:us-east-1:123456789012:function:nope",
        request_id="aws-req",
    )
    shaped = error_response(error, "req-2")
    assert shaped.status == 502
    document = error_document(shaped)
    assert document["message"] == "Bad Gateway"
    assert document["error"].startswith("ResourceNotFoundException: Function not found")
    assert document["request_id"] == "req-2"
    assert document["lambda_request_id"] == "aws-req"


def test_throttling_stays_429_with_retry_after() -> None:
    error = LambdaServiceError(
        "throttled",
        invoke_status=429,
        error_type="TooManyRequestsException",
        aws_message="Rate Exceeded.",
        retry_after="3",
    )
    shaped = error_response(error, "req-3")
    assert shaped.status == 429
    assert ("Retry-After", "3") in shaped.headers
    assert error_document(shaped)["message"] == "Too Many Requests"


def test_bad_proxy_response_uses_kongs_message_shape() -> None:
    shaped = error_response(BadLambdaResponseError("statusCode validation failed"), "req-4")
    assert shaped.status == 502
    assert error_document(shaped) == {
        "message": "Bad Gateway",
        "error": "could not JSON decode Lambda function response: statusCode validation failed",
        "request_id": "req-4",
    }

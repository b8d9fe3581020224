"""Reading a function's return value as an HTTP response: v1 (Kong), v2 and ALB."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lambdaroute.config import LambdaPluginConfig
from lambdaroute.errors import BadLambdaResponseError
from lambdaroute.invocation import InvokeResult
from lambdaroute.proxy_integration import PREFIX, ProxyResponse, parse_proxy_response
from lambdaroute.responses import error_response, shape_response

V1 = LambdaPluginConfig(is_proxy_integration=True)
GW_V1 = LambdaPluginConfig(is_proxy_integration=True, awsgateway_compatible=True)
V2 = LambdaPluginConfig(
    is_proxy_integration=True,
    awsgateway_compatible=True,
    awsgateway_compatible_payload_version="2.0",
)
ALB = LambdaPluginConfig(is_proxy_integration=True, alb_target_compatible=True)


def parse(plugin: LambdaPluginConfig, value: Any) -> ProxyResponse:
    return parse_proxy_response(plugin, json.dumps(value).encode())


def error(plugin: LambdaPluginConfig, payload: bytes) -> str:
    with pytest.raises(BadLambdaResponseError) as caught:
        parse_proxy_response(plugin, payload)
    assert caught.value.status_code == 502
    message = str(caught.value)
    assert PREFIX.strip(": ") not in message  # the error response adds Kong's prefix, once
    return message


# --- v1 (Kong) ------------------------------------------------------------------------


@pytest.mark.parametrize("plugin", [V1, GW_V1], ids=["kong", "gateway-v1"])
def test_v1_response(plugin: LambdaPluginConfig) -> None:
    response = parse(
        plugin,
        {
            "statusCode": 201,
            "headers": {"Content-Type": "text/plain", "X-Num": 5, "X-Bool": True, "X-F": 1.5},
            "body": "héllo",
            "isBase64Encoded": False,
            "cookies": ["ignored=1"],
            "statusDescription": "ignored",
        },
    )
    assert response.status == 201
    assert response.headers == (
        ("Content-Type", "text/plain"),
        ("X-Num", "5"),
        ("X-Bool", "true"),
        ("X-F", "1.5"),
    )
    assert response.body == "héllo".encode()
    assert response.reason is None


def test_v1_multi_value_headers_win_case_insensitively_and_repeat() -> None:
    response = parse(
        V1,
        {
            "statusCode": 200,
            "headers": {"content-type": "text/html", "x-a": "single", "X-Keep": "k"},
            "multiValueHeaders": {"X-A": ["one", "two"], "Set-Cookie": ["a=1", "b=2"]},
        },
    )
    assert response.headers == (
        ("content-type", "text/html"),
        ("X-Keep", "k"),
        ("X-A", "one"),
        ("X-A", "two"),
        ("Set-Cookie", "a=1"),
        ("Set-Cookie", "b=2"),
    )


def test_v1_case_variants_in_headers_stay_separate_lines() -> None:
    # serverless-wsgi's way of repeating a header in single-value maps
    response = parse(V1, {"statusCode": 200, "headers": {"set-cookie": "a=1", "Set-cookie": "b=2"}})
    assert response.headers == (("set-cookie", "a=1"), ("Set-cookie", "b=2"))


def test_v1_defaults_and_nulls() -> None:
    response = parse(V1, {"statusCode": "204", "multiValueHeaders": None, "headers": None})
    assert (response.status, response.headers, response.body) == (204, (), b"")
    assert parse(V1, {"statusCode": 200, "headers": []}).headers == ()
    assert parse(V1, {"statusCode": 200.0}).status == 200


@pytest.mark.parametrize(
    ("body", "decoded"),
    [("dGVzdA==", b"test"), ("dGVzdA=", b"test"), ("dGVzdA", b"test"), ("", b"")],
)
def test_v1_base64_bodies_are_decoded_leniently_as_nginx(body: str, decoded: bytes) -> None:
    response = parse(V1, {"statusCode": 200, "body": body, "isBase64Encoded": True})
    assert response.body == decoded


@pytest.mark.parametrize("body", ["dGVzd", "dGV*dA==", "dG VzdA=="])
def test_v1_invalid_base64_is_a_bad_response(body: str) -> None:
    value = {"statusCode": 200, "body": body, "isBase64Encoded": True}
    assert "not valid base64" in error(V1, json.dumps(value).encode())


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        (b"", "proxy response must be json format"),
        (b"not json", "invalid JSON"),
        (b"[1, 2]", "statusCode validation failed: the response is a JSON array"),
        (b'"text"', "statusCode validation failed: the response is a JSON string"),
        (b"{}", "statusCode validation failed: statusCode is missing"),
        (b'{"statusCode": true}', "statusCode validation failed: statusCode is boolean"),
        (b'{"statusCode": "abc"}', "statusCode validation failed: statusCode is string"),
        (b'{"statusCode": 600}', "statusCode validation failed: 600 is not an HTTP status"),
        (b'{"statusCode": 99}', "statusCode validation failed: 99 is not an HTTP status"),
        (b'{"statusCode": 200.5}', "statusCode validation failed: 200.5 is not"),
        (b'{"statusCode": 200, "headers": "x"}', "headers must be a table, found string"),
        (b'{"statusCode": 200, "body": {"a": 1}}', "body must be a string, found object"),
        (b'{"statusCode": 200, "isBase64Encoded": "yes"}', "isBase64Encoded must be a boolean"),
        (b'{"statusCode": 200, "multiValueHeaders": 1}', "multiValueHeaders must be a table"),
        (b'{"statusCode": 200, "headers": ["a"]}', "headers must be a table of header names"),
        (b'{"statusCode": 200, "headers": {"x": null}}', "header 'x' has an invalid value: null"),
        (b'{"statusCode": 200, "headers": {"x": {}}}', "header 'x' has an invalid value: object"),
        (
            b'{"statusCode": 200, "multiValueHeaders": {"x": [1, null]}}',
            "header 'x' has an invalid value: null",
        ),
        (b'{"statusCode": 200, "headers": {"x": "a\\r\\nInjected: 1"}}', "line break"),
        (b'{"statusCode": 200, "headers": {"bad name": "v"}}', 'invalid header name "bad name"'),
    ],
)
def test_v1_invalid_responses_say_what_is_wrong(payload: bytes, problem: str) -> None:
    assert problem in error(V1, payload)


def test_v1_validation_order_is_kongs() -> None:
    # statusCode first, then headers, body, isBase64Encoded
    value = {"headers": 1, "body": 1, "isBase64Encoded": 1}
    assert "statusCode" in error(V1, json.dumps(value).encode())
    value["statusCode"] = 200
    assert error(V1, json.dumps(value).encode()).startswith("headers must be a table")
    del value["headers"]
    assert error(V1, json.dumps(value).encode()).startswith("body must be a string")


# --- v2 -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "body"),
    [
        (b'{"message": "hi"}', b'{"message": "hi"}'),
        (b'"Hello from Lambda!"', b"Hello from Lambda!"),
        (b"[1, 2]", b"[1, 2]"),
        (b"42", b"42"),
    ],
)
def test_v2_without_status_code_is_a_200_json_body(payload: bytes, body: bytes) -> None:
    response = parse_proxy_response(V2, payload)
    assert (response.status, response.headers, response.body) == (
        200,
        (("content-type", "application/json"),),
        body,
    )


def test_v2_response() -> None:
    response = parse(
        V2,
        {
            "statusCode": 302,
            "headers": {"Location": "/x", "Vary": "a,b", "X-N": 1},
            "multiValueHeaders": {"X-Ignored": ["1"]},
            "cookies": ["a=1; Path=/", "b=2; HttpOnly"],
            "body": "aGk=",
            "isBase64Encoded": True,
        },
    )
    assert response.status == 302
    assert response.headers == (
        ("Location", "/x"),
        ("Vary", "a,b"),
        ("X-N", "1"),
        ("set-cookie", "a=1; Path=/"),
        ("set-cookie", "b=2; HttpOnly"),
    )
    assert response.body == b"hi"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (
            {"statusCode": 200, "cookies": "a=1"},
            "cookies must be an array of strings, found string",
        ),
        ({"statusCode": 200, "cookies": [1]}, "cookies must be an array of strings, found number"),
        ({"statusCode": 200, "headers": {"x": ["a"]}}, "header 'x' has an invalid value: array"),
        ({"statusCode": 200, "headers": []}, "headers must be a table, found array"),
        ({"statusCode": 200, "body": 1}, "body must be a string"),
        ({"statusCode": "x"}, "statusCode validation failed"),
    ],
)
def test_v2_invalid_responses(value: dict[str, Any], problem: str) -> None:
    assert problem in error(V2, json.dumps(value).encode())


def test_v2_invalid_json_is_a_bad_response() -> None:
    assert "invalid JSON" in error(V2, b"{")


# --- ALB ------------------------------------------------------------------------------


def test_alb_response() -> None:
    response = parse(
        ALB,
        {
            "statusCode": 404,
            "statusDescription": "404 Not Here",
            "headers": {"content-type": "text/plain"},
            "multiValueHeaders": {"set-cookie": ["a=1", "b=2"]},
            "body": "nope",
            "isBase64Encoded": False,
        },
    )
    assert (response.status, response.reason, response.body) == (404, "Not Here", b"nope")
    assert response.headers == (
        ("content-type", "text/plain"),
        ("set-cookie", "a=1"),
        ("set-cookie", "b=2"),
    )


def test_alb_status_comes_from_status_code_not_the_description() -> None:
    response = parse(ALB, {"statusCode": 200, "statusDescription": "500 Internal Server Error"})
    assert (response.status, response.reason) == (200, "Internal Server Error")
    assert parse(ALB, {"statusCode": 200, "statusDescription": "Fine"}).reason == "Fine"


def test_alb_invalid_responses() -> None:
    assert "statusDescription must be a string" in error(
        ALB, b'{"statusCode": 200, "statusDescription": 200}'
    )
    assert "statusCode validation failed" in error(ALB, b'{"statusDescription": "200 OK"}')
    # a control character would make the status line one clients reject (found by the fuzz test)
    assert "statusDescription must not contain control characters" in error(
        ALB, b'{"statusCode": "200", "statusDescription": "0\\f0"}'
    )
    assert parse(ALB, {"statusCode": 200, "statusDescription": "200 A\tB"}).reason == "A\tB"


def test_mode_selection() -> None:
    alb_and_v2 = LambdaPluginConfig(
        alb_target_compatible=True,
        awsgateway_compatible=True,
        awsgateway_compatible_payload_version="2.0",
    )
    # ALB wins: a return value without statusCode is invalid there, not inferred
    assert "statusCode" in error(alb_and_v2, b'{"a": 1}')
    # payload 2.0 without awsgateway_compatible: Kong's v1 rules
    v2_without_gateway = LambdaPluginConfig(awsgateway_compatible_payload_version="2.0")
    assert "statusCode" in error(v2_without_gateway, b'{"a": 1}')


# --- statuses that are no final answer --------------------------------------------------

ALL_MODES = pytest.mark.parametrize("plugin", [V1, GW_V1, V2, ALB], ids=["kong", "v1", "v2", "alb"])


@ALL_MODES
@pytest.mark.parametrize("status", [100, 101, 103, 199, "101", "1.5e2", "0x64"])
def test_informational_status_is_rejected_in_every_mode(
    plugin: LambdaPluginConfig, status: Any
) -> None:
    # a 1xx sent as the final response hangs the client and desyncs keep-alive connections
    problem = error(plugin, json.dumps({"statusCode": status}).encode())
    assert problem.startswith("statusCode validation failed: ")
    assert "informational (1xx)" in problem


@ALL_MODES
@pytest.mark.parametrize(
    "raw",
    [b"NaN", b"Infinity", b"-Infinity", b"1e999", b'"nan"', b'"inf"', b'"-Infinity"', b'"1e999"'],
)
def test_nan_and_infinity_are_invalid_not_an_internal_error(
    plugin: LambdaPluginConfig, raw: bytes
) -> None:
    problem = error(plugin, b'{"statusCode": ' + raw + b"}")
    assert problem.startswith("statusCode validation failed: statusCode is ")
    assert problem.endswith("not a number")


@pytest.mark.parametrize("text", ["2_00", "\uff12\uff10\uff10", "200x", "0x", ""])
def test_status_strings_are_read_as_lua_reads_them(text: str) -> None:
    # Python's float() takes "2_00" and full-width digits; Lua's tonumber() does not
    assert "not a number" in error(V1, ('{"statusCode": "' + text + '"}').encode())
    assert parse(V1, {"statusCode": " 0x1F4 "}).status == 500
    assert parse(V1, {"statusCode": "2.01e2"}).status == 201


@pytest.mark.parametrize("plugin", [V1, V2], ids=["v1", "v2"])
def test_unpaired_surrogate_in_a_header_value_is_a_bad_response(
    plugin: LambdaPluginConfig,
) -> None:
    problem = error(plugin, b'{"statusCode": 200, "headers": {"x": "a\\ud800"}}')
    assert "unpaired surrogate" in problem


def test_the_client_message_carries_kongs_prefix_once() -> None:
    # issue 9: "could not JSON decode Lambda function response: could not JSON decode ..."
    # an answer with no statusCode (a function error is reported as such, see
    # test_function_errors.py, and never reaches this parser)
    result = InvokeResult(
        status=200,
        headers=(),
        body=b'{"errorType": "PaymentDeclined", "errorMessage": "card expired"}',
        duration_ms=1.0,
        function_name="pay",
        qualifier=None,
    )
    with pytest.raises(BadLambdaResponseError) as caught:
        shape_response(GW_V1, result, client_http_version="HTTP/1.1")
    message = json.loads(error_response(caught.value, "req").body)["error"]
    assert message.count("could not JSON decode") == 1
    assert message.startswith(PREFIX + "statusCode validation failed: ")

"""Function URL events (validated with Powertools' LambdaFunctionUrlModel) and responses."""

from __future__ import annotations

import base64
import json
from dataclasses import replace

import pytest
from aws_lambda_powertools.utilities.parser.models import LambdaFunctionUrlModel

from lambdaroute.config import LambdaPluginConfig
from lambdaroute.errors import BadLambdaResponseError
from lambdaroute.function_url import (
    FunctionUrlSettings,
    IamCaller,
    function_url_event,
    parse_function_url_response,
)
from lambdaroute.snapshot import IncomingRequest, RouteContext

PLUGIN = LambdaPluginConfig(base64_encode_body=False, awsgateway_api_id="abcdefgh1234")
SETTINGS = FunctionUrlSettings.of(PLUGIN, "eu-west-1")
IAM = FunctionUrlSettings(
    url_id="abcdefgh1234",
    region="eu-west-1",
    account_id="123456789012",
    auth_type="AWS_IAM",
    caller=IamCaller(
        account_id="111122223333",
        caller_id="AIDAEXAMPLE",
        user_arn="arn:aws:iam::111122223333:user/example-user",
        user_id="AIDAEXAMPLE",
    ),
)


def request(**changes: object) -> IncomingRequest:
    base = IncomingRequest(
        method="POST",
        scheme="https",
        host="api.example.test",
        port=443,
        raw_path="/api/items/caf%C3%A9",
        raw_query="a=1&a=2&b=x%20y",
        http_version="HTTP/1.1",
        headers=(
            ("Host", "api.example.test"),
            ("User-Agent", "curl/8.5"),
            ("Cookie", "s=1; t=2"),
            ("Content-Type", "application/json"),
        ),
        body=b'{"k": "v"}',
        body_too_large=False,
        client_ip="192.0.2.7",
        received_at=1_583_349_317.135,
        request_id="req-123",
        route=RouteContext(
            route_name="items", matched_path="/api", upstream_path="/items/caf%C3%A9"
        ),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_event_with_auth_none() -> None:
    event = function_url_event(PLUGIN, request(), SETTINGS)
    LambdaFunctionUrlModel.model_validate(event)
    assert event["version"] == "2.0"
    assert event["routeKey"] == "$default"
    assert event["rawPath"] == "/items/café"
    assert event["rawQueryString"] == "a=1&a=2&b=x%20y"
    assert event["cookies"] == ["s=1", "t=2"]
    assert event["queryStringParameters"] == {"a": "1,2", "b": "x y"}
    assert event["body"] == '{"k": "v"}' and event["isBase64Encoded"] is False
    assert "pathParameters" not in event and "stageVariables" not in event
    context = event["requestContext"]
    assert context["accountId"] == "anonymous"
    assert context["apiId"] == "abcdefgh1234"
    assert context["domainName"] == "abcdefgh1234.lambda-url.eu-west-1.on.aws"
    assert context["domainPrefix"] == "abcdefgh1234"
    assert context["routeKey"] == "$default" and context["stage"] == "$default"
    assert "authorizer" not in context
    assert context["http"] == {
        "method": "POST",
        "path": "/items/café",
        "protocol": "HTTP/1.1",
        "sourceIp": "192.0.2.7",
        "userAgent": "curl/8.5",
    }
    assert context["time"] == "04/Mar/2020:19:15:17 +0000"
    assert context["timeEpoch"] == 1583349317135


def test_event_with_aws_iam_reports_the_callers_access_key() -> None:
    signed = request(
        headers=(
            *request().headers,
            (
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20260101/eu-west-1/lambda/"
                "aws4_request, SignedHeaders=host, Signature=abc",
            ),
        )
    )
    event = function_url_event(PLUGIN, signed, IAM)
    model = LambdaFunctionUrlModel.model_validate(event)
    assert model.requestContext.authorizer is not None
    assert event["requestContext"]["accountId"] == "123456789012"
    assert event["requestContext"]["authorizer"] == {
        "iam": {
            "accessKey": "AKIAIOSFODNN7EXAMPLE",
            "accountId": "111122223333",
            "callerId": "AIDAEXAMPLE",
            "cognitoIdentity": None,
            "principalOrgId": None,
            "userArn": "arn:aws:iam::111122223333:user/example-user",
            "userId": "AIDAEXAMPLE",
        }
    }


def test_stage_and_route_shape_do_not_leak_into_the_event() -> None:
    plugin = replace(PLUGIN, awsgateway_stage="prod", awsgateway_stage_variables={"k": "v"})
    routed = request(
        route=RouteContext(
            route_name="r",
            matched_path="~/items/(?<id>[^/]+)$",
            path_captures={"id": "7"},
            upstream_path="/items/7",
        ),
        raw_path="/items/7",
    )
    event = function_url_event(plugin, routed, SETTINGS)
    LambdaFunctionUrlModel.model_validate(event)
    assert event["rawPath"] == "/items/7"
    assert event["routeKey"] == "$default"
    assert "pathParameters" not in event and "stageVariables" not in event


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"])
def test_bodyless_and_binary_requests_validate(method: str) -> None:
    event = function_url_event(PLUGIN, request(method=method, body=b"", headers=()), SETTINGS)
    LambdaFunctionUrlModel.model_validate(event)
    assert "body" not in event and "cookies" not in event
    binary = request(body=b"\x00\xff", headers=(("Content-Type", "image/png"),))
    event = function_url_event(PLUGIN, binary, SETTINGS)
    LambdaFunctionUrlModel.model_validate(event)
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"\x00\xff"


def test_response_inference_and_cookies() -> None:
    inferred = parse_function_url_response(b'{"message": "Hello, world!"}')
    assert inferred.status == 200
    assert inferred.headers == (("content-type", "application/json"),)
    assert inferred.body == b'{"message": "Hello, world!"}'
    assert parse_function_url_response(b'"Hello, world!"').body == b"Hello, world!"
    custom = parse_function_url_response(
        json.dumps(
            {
                "statusCode": 201,
                "headers": {"Content-Type": "application/json", "My-Custom-Header": "v"},
                "body": '{"message": "Hello, world!"}',
                "cookies": ["Cookie_1=Value1; Max-Age=78000", "Cookie_2=Value2"],
                "isBase64Encoded": False,
            }
        ).encode()
    )
    assert custom.status == 201
    assert custom.headers == (
        ("Content-Type", "application/json"),
        ("My-Custom-Header", "v"),
        ("set-cookie", "Cookie_1=Value1; Max-Age=78000"),
        ("set-cookie", "Cookie_2=Value2"),
    )
    with pytest.raises(BadLambdaResponseError, match="body must be a string"):
        parse_function_url_response(b'{"statusCode": 200, "body": 1}')

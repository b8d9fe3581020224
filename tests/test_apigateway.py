"""API Gateway v1/v2 and ALB events built from an IncomingRequest."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.parser.models import (
    AlbModel,
    APIGatewayProxyEventModel,
    APIGatewayProxyEventV2Model,
)

from lambdaroute.apigateway import build_event
from lambdaroute.apigateway_resource import route_shape
from lambdaroute.config import LambdaPluginConfig
from lambdaroute.snapshot import IncomingRequest, RouteContext

EVENTS = Path(__file__).parent / "webapps" / "aws_events"

V1 = LambdaPluginConfig(awsgateway_compatible=True)
V2 = LambdaPluginConfig(awsgateway_compatible=True, awsgateway_compatible_payload_version="2.0")
ALB = LambdaPluginConfig(alb_target_compatible=True)
ALB_MULTI = LambdaPluginConfig(alb_target_compatible=True, alb_multi_value_headers=True)


def request(**changes: Any) -> IncomingRequest:
    base = IncomingRequest(
        method="POST",
        scheme="https",
        host="api.example.test",
        port=8443,
        raw_path="/site/caf%C3%A9",
        raw_query="a=1&a=2&flag&b=x%20y&c=1+2&d=%2B",
        http_version="HTTP/1.1",
        headers=(
            ("Host", "api.example.test"),
            ("User-Agent", "curl/8.5"),
            ("X-Multi", "one"),
            ("x-multi", "two"),
            ("Cookie", "a=1; b=2"),
            ("Cookie", "c=3"),
            ("X-Forwarded-For", "10.0.0.1"),
            ("X-Forwarded-Proto", "http"),
            ("Content-Type", "application/json"),
        ),
        body=b'{"k": "v"}',
        body_too_large=False,
        client_ip="192.0.2.7",
        received_at=1_583_349_317.135,
        request_id="req-123",
        route=RouteContext(
            route_name="site",
            matched_path="~/site/(?<siteSlug>[^/]+)$",
            path_captures={"siteSlug": "caf%C3%A9"},
            upstream_path="/site/caf%C3%A9",
        ),
    )
    return replace(base, **changes)


def fixture(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


# --- v1 -------------------------------------------------------------------------------


def test_v1_has_every_field_of_aws_sample_and_validates() -> None:
    event = build_event(V1, request())
    APIGatewayProxyEventModel.model_validate(event)
    sample = fixture("apigw-rest-v1.json")
    assert set(sample) <= set(event)
    # authorizer and clientCert exist only with an authorizer / mutual TLS
    assert set(sample["requestContext"]) - {"authorizer"} <= set(event["requestContext"])
    assert set(sample["requestContext"]["identity"]) - {"clientCert"} <= set(
        event["requestContext"]["identity"]
    )


def test_v1_values() -> None:
    event = build_event(V1, request())
    assert event["version"] == "1.0"
    assert event["resource"] == "/site/{siteSlug}"
    assert event["path"] == "/site/caf%C3%A9"  # percent-encoded, as a REST API sends it
    assert event["httpMethod"] == "POST"
    assert event["pathParameters"] == {"siteSlug": "caf%C3%A9"}
    assert event["stageVariables"] is None
    context = event["requestContext"]
    assert context == {
        **context,
        "accountId": "123456789012",
        "apiId": "lambdaroute",
        "resourceId": "lambdaroute",
        "resourcePath": "/site/{siteSlug}",
        "stage": "$default",
        "requestId": "req-123",
        "extendedRequestId": "req-123",
        "httpMethod": "POST",
        "path": "/site/caf%C3%A9",
        "protocol": "HTTP/1.1",
        "requestTime": "04/Mar/2020:19:15:17 +0000",
        "requestTimeEpoch": 1583349317135,
        "domainName": "api.example.test",
        "domainPrefix": "api",
    }
    assert context["identity"]["sourceIp"] == "192.0.2.7"
    assert context["identity"]["userAgent"] == "curl/8.5"
    assert context["identity"]["caller"] is None


def test_v1_headers_last_value_lower_case_and_forwarded() -> None:
    event = build_event(V1, request())
    assert event["headers"]["x-multi"] == "two"
    assert event["multiValueHeaders"]["x-multi"] == ["one", "two"]
    assert event["headers"]["cookie"] == "c=3"
    assert event["multiValueHeaders"]["cookie"] == ["a=1; b=2", "c=3"]
    assert all(name == name.lower() for name in event["multiValueHeaders"])
    assert event["multiValueHeaders"]["x-forwarded-for"] == ["10.0.0.1, 192.0.2.7"]
    assert event["headers"]["x-forwarded-proto"] == "https"
    assert event["headers"]["x-forwarded-port"] == "8443"


def test_v1_query_decoded_strings_last_value() -> None:
    event = build_event(V1, request())
    assert event["queryStringParameters"] == {
        "a": "2",
        "flag": "",
        "b": "x y",
        "c": "1 2",
        "d": "+",
    }
    assert event["multiValueQueryStringParameters"]["a"] == ["1", "2"]
    assert event["multiValueQueryStringParameters"]["flag"] == [""]


def test_v1_nulls_where_aws_sends_null() -> None:
    plain = RouteContext(matched_path="/site/caf%C3%A9", upstream_path="/site/caf%C3%A9")
    event = build_event(V1, request(raw_query="", route=plain, body=b""))
    assert event["queryStringParameters"] is None
    assert event["multiValueQueryStringParameters"] is None
    assert event["pathParameters"] is None
    assert event["stageVariables"] is None


def test_v1_configured_values_and_named_stage() -> None:
    plugin = replace(
        V1,
        awsgateway_stage="prod",
        awsgateway_api_id="abc123",
        awsgateway_account_id="999999999999",
        awsgateway_resource_id="r1",
        awsgateway_stage_variables={"env": "prod"},
    )
    event = build_event(plugin, request())
    APIGatewayProxyEventModel.model_validate(event)
    assert event["stageVariables"] == {"env": "prod"}
    context = event["requestContext"]
    assert (context["stage"], context["apiId"], context["accountId"]) == (
        "prod",
        "abc123",
        "999999999999",
    )
    assert context["resourceId"] == "r1"
    assert context["path"] == "/prod/site/caf%C3%A9"  # with the stage, as AWS
    assert event["path"] == "/site/caf%C3%A9"  # without


def test_v1_user_agent_is_a_string_without_the_header() -> None:
    event = build_event(V1, request(headers=(("Host", "h"),)))
    assert event["requestContext"]["identity"]["userAgent"] == ""


def test_v1_path_is_kongs_upstream_path() -> None:
    route = RouteContext(matched_path="/api", upstream_path="/users/1")
    event = build_event(V1, request(raw_path="/api/users/1", route=route))
    assert event["path"] == "/users/1"
    assert event["resource"] == "/api/{proxy+}"
    assert event["pathParameters"] == {"proxy": "users/1"}


@pytest.mark.parametrize(
    ("matched_path", "raw_path", "resource", "parameters"),
    [
        ("/api", "/api", "/api", None),
        ("/api/", "/api/", "/api", None),
        ("/api", "/api/a%20b/c", "/api/{proxy+}", {"proxy": "a%20b/c"}),
        (None, "/", "/", None),
        (None, "/x/y", "/{proxy+}", {"proxy": "x/y"}),
        ("/", "/x", "/{proxy+}", {"proxy": "x"}),
        ("/café", "/caf%C3%A9/a%2Fb", "/café/{proxy+}", {"proxy": "a%2Fb"}),
    ],
)
def test_v1_prefix_routes_are_greedy_proxy_resources(
    matched_path: str | None, raw_path: str, resource: str, parameters: dict[str, str] | None
) -> None:
    route = RouteContext(matched_path=matched_path, upstream_path=raw_path)
    event = build_event(V1, request(raw_path=raw_path, route=route))
    assert (event["resource"], event["pathParameters"]) == (resource, parameters)


@pytest.mark.parametrize(
    ("matched_path", "template"),
    [
        ("~/site/(?<siteSlug>[^/]+)$", "/site/{siteSlug}"),
        ("~/files/(?<path>.+)$", "/files/{path+}"),
        ("~/(?<version>\\d+)/strip", "/{version}/strip"),
        ("~^/a\\.b/(?P<x>[a-z]+)/(?<rest>[^.]*)$", "/a.b/{x}/{rest+}"),
        ("~/x/(?<id>[\\w-]+)/(?<tail>[!-~]+)", "/x/{id}/{tail+}"),
        ("~/x/(?<id>[\\w/]+)", "/x/{id+}"),
        ("~/u/(?<id>\\S+)", "/u/{id+}"),
        ("~/n/(?<outer>(?<inner>\\d+)-\\d+)/end", "/n/{outer}/end"),
        ("~/(?<=x)y/(?<id>[^/]+)", "/(?<=x)y/{id}"),
        ("~/r/(\\d+)", "/r/(\\d+)"),
    ],
)
def test_regex_route_templates(matched_path: str, template: str) -> None:
    assert route_shape(matched_path).template == template


# --- bodies ---------------------------------------------------------------------------


@pytest.mark.parametrize("plugin", [V1, V2, ALB, ALB_MULTI], ids=["v1", "v2", "alb", "alb-multi"])
def test_base64_encode_body_on_encodes_every_body_as_kong(plugin: LambdaPluginConfig) -> None:
    event = build_event(plugin, request(body=b"plain text"))
    assert base64.b64decode(event["body"]) == b"plain text"
    assert event["isBase64Encoded"] is True
    empty = build_event(plugin, request(body=b""))
    assert (empty["body"], empty["isBase64Encoded"]) == ("", True)  # Kong's quirk


def test_skipped_large_body_is_empty() -> None:
    big = request(body=b"x" * 10_000, body_too_large=True)
    assert build_event(V1, big)["body"] == ""
    kept = build_event(replace(V1, skip_large_bodies=False), big)
    assert base64.b64decode(kept["body"]) == b"x" * 10_000
    assert build_event(replace(V1, base64_encode_body=False), big)["body"] is None


@pytest.mark.parametrize(
    ("content_type", "body", "text"),
    [
        ("application/json", b'{"a": 1}', True),
        ("text/plain; charset=utf-8", "é".encode(), True),
        ("application/x-www-form-urlencoded", b"a=1", True),
        ("application/vnd.api+json", b"{}", True),
        (None, b"no type", True),
        ("application/octet-stream", b"\x00\x01", False),
        ("image/png", b"\x89PNG", False),
        ("text/plain", b"\xff\xfe", False),  # not UTF-8: cannot travel as JSON text
    ],
)
def test_gateway_bodies_follow_aws_rules_without_base64_encode_body(
    content_type: str | None, body: bytes, text: bool
) -> None:
    headers = (("Content-Type", content_type),) if content_type else ()
    for plugin in (replace(V1, base64_encode_body=False), replace(V2, base64_encode_body=False)):
        event = build_event(plugin, request(headers=headers, body=body))
        assert event["isBase64Encoded"] is not text
        assert event["body"] == (body.decode() if text else base64.b64encode(body).decode())


@pytest.mark.parametrize(
    ("content_type", "text"),
    [
        ("text/html", True),
        ("application/json; charset=utf-8", True),
        ("application/javascript", True),
        ("application/xml", True),
        ("application/x-www-form-urlencoded", False),
        ("application/octet-stream", False),
        (None, False),
    ],
)
def test_alb_bodies_follow_the_alb_list(content_type: str | None, text: bool) -> None:
    headers = (("Content-Type", content_type),) if content_type else ()
    event = build_event(
        replace(ALB, base64_encode_body=False), request(headers=headers, body=b"a=1")
    )
    assert (event["body"], event["isBase64Encoded"]) == (("a=1", False) if text else ("YT0x", True))


def test_no_body_without_base64_encode_body() -> None:
    empty = request(body=b"")
    assert build_event(replace(V1, base64_encode_body=False), empty)["body"] is None
    assert "body" not in build_event(replace(V2, base64_encode_body=False), empty)
    alb = build_event(replace(ALB, base64_encode_body=False), empty)
    assert (alb["body"], alb["isBase64Encoded"]) == ("", False)


# --- v2 -------------------------------------------------------------------------------


def test_v2_has_the_fields_of_aws_sample_and_validates() -> None:
    event = build_event(replace(V2, awsgateway_stage_variables={"k": "v"}), request())
    APIGatewayProxyEventV2Model.model_validate(event)
    sample = fixture("apigw-http-v2.json")
    assert set(sample) == set(event)
    # authentication and authorizer exist only with mutual TLS / an authorizer
    assert set(sample["requestContext"]) - {"authentication", "authorizer"} == set(
        event["requestContext"]
    )
    assert set(sample["requestContext"]["http"]) == set(event["requestContext"]["http"])


def test_v2_values() -> None:
    event = build_event(V2, request())
    assert event["routeKey"] == event["requestContext"]["routeKey"] == "ANY /site/{siteSlug}"
    assert event["rawPath"] == event["requestContext"]["http"]["path"] == "/site/café"
    assert event["rawQueryString"] == "a=1&a=2&flag&b=x%20y&c=1+2&d=%2B"
    assert event["queryStringParameters"] == {
        "a": "1,2",
        "flag": "",
        "b": "x y",
        "c": "1 2",
        "d": "+",
    }
    assert event["cookies"] == ["a=1", "b=2", "c=3"]
    assert "cookie" not in event["headers"]
    assert event["headers"]["x-multi"] == "one,two"
    assert event["headers"]["x-forwarded-for"] == "10.0.0.1, 192.0.2.7"
    assert event["pathParameters"] == {"siteSlug": "café"}  # decoded, as rawPath
    http = event["requestContext"]["http"]
    assert http == {
        "method": "POST",
        "path": "/site/café",
        "protocol": "HTTP/1.1",
        "sourceIp": "192.0.2.7",
        "userAgent": "curl/8.5",
    }
    assert event["requestContext"]["time"] == "04/Mar/2020:19:15:17 +0000"
    assert event["requestContext"]["timeEpoch"] == 1583349317135
    assert event["requestContext"]["stage"] == "$default"


def test_v2_catch_all_route_is_default_and_empty_maps_are_left_out() -> None:
    route = RouteContext(matched_path=None, upstream_path="/x")
    event = build_event(
        V2, request(raw_path="/x", raw_query="", headers=(("Host", "h"),), route=route)
    )
    APIGatewayProxyEventV2Model.model_validate(event)
    assert event["routeKey"] == "$default"
    for key in ("cookies", "queryStringParameters", "pathParameters", "stageVariables"):
        assert key not in event
    assert event["requestContext"]["http"]["userAgent"] == ""


def test_v2_prefix_route_and_named_stage() -> None:
    route = RouteContext(matched_path="/api", upstream_path="/api/a%20b")
    event = build_event(
        replace(V2, awsgateway_stage="prod"), request(raw_path="/api/a%20b", route=route)
    )
    assert event["routeKey"] == "ANY /api/{proxy+}"
    assert event["pathParameters"] == {"proxy": "a b"}  # decoded, as rawPath
    assert event["rawPath"] == "/prod/api/a b"


# --- ALB ------------------------------------------------------------------------------


def test_alb_single_value_event() -> None:
    event = build_event(ALB, request())
    AlbModel.model_validate(event)
    assert event["requestContext"] == {"elb": {"targetGroupArn": ALB.alb_target_group_arn}}
    assert event["path"] == "/site/caf%C3%A9"
    # last values, query kept as sent (the ALB does not decode it)
    assert event["queryStringParameters"] == {
        "a": "2",
        "flag": "",
        "b": "x%20y",
        "c": "1+2",
        "d": "%2B",
    }
    assert event["headers"]["x-multi"] == "two"
    assert event["headers"]["x-forwarded-proto"] == "https"
    assert "multiValueHeaders" not in event and "multiValueQueryStringParameters" not in event


def test_alb_multi_value_event_has_the_sample_keys() -> None:
    event = build_event(ALB_MULTI, request())
    assert set(event) == set(fixture("alb-multi-value.json")) | {"multiValueQueryStringParameters"}
    assert event["multiValueQueryStringParameters"]["a"] == ["1", "2"]
    assert event["multiValueHeaders"]["x-multi"] == ["one", "two"]
    assert event["multiValueHeaders"]["cookie"] == ["a=1; b=2", "c=3"]


def test_alb_without_query() -> None:
    event = build_event(ALB, request(raw_query=""))
    assert event["queryStringParameters"] == {}
    assert build_event(ALB_MULTI, request(raw_query=""))["multiValueQueryStringParameters"] == {}


def test_alb_mode_wins_over_api_gateway_mode() -> None:
    plugin = replace(ALB, awsgateway_compatible=True, awsgateway_compatible_payload_version="2.0")
    assert "elb" in build_event(plugin, request())["requestContext"]

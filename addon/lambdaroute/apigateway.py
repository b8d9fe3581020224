"""API Gateway v1 (REST, payload 1.0), v2 (HTTP API, payload 2.0) and ALB target events.

The events follow what AWS sends (peers.md section 11, the samples in the reference
``events/``), with these documented choices:

- Header names are lower-case in every mode (Kong, HTTP API and ALB do so; a REST API
  keeps the client's spelling). A repeated header's single value is its LAST value, as in
  AWS's own samples (Kong takes the first). API Gateway and ALB add ``x-forwarded-for``
  (the client address appended), ``x-forwarded-port`` and ``x-forwarded-proto``; so do we.
- v1 query values are percent- and ``+``-decoded strings; a valueless argument is ``""``
  (Kong sends ``true``, which Powertools rejects). An ALB event keeps them as sent.
- ``resource`` / ``routeKey`` / ``pathParameters`` come from the matched route (see
  ``apigateway_resource``).
- ``base64_encode_body: true`` (Kong's default) base64-encodes the body in every mode, the
  empty body included (``""`` with ``isBase64Encoded: true``, Kong's quirk). With ``false``
  the body follows the mode's AWS rule: text stays text, anything else is base64.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from .apigateway_fields import clf_time, event_body, gateway_headers, split_query
from .apigateway_resource import route_resource, route_shape
from .config import LambdaPluginConfig
from .snapshot import IncomingRequest


def build_event(plugin: LambdaPluginConfig, request: IncomingRequest) -> dict[str, Any]:
    """The event for the plugin's mode: ALB if alb_target_compatible, else API Gateway
    v1 or v2 per awsgateway_compatible_payload_version."""
    if plugin.alb_target_compatible:
        return _alb_event(plugin, request)
    if plugin.awsgateway_compatible_payload_version == "2.0":
        return v2_event(plugin, request)
    return _v1_event(plugin, request)


# --- the three events ---------------------------------------------------------------


def _v1_event(plugin: LambdaPluginConfig, request: IncomingRequest) -> dict[str, Any]:
    headers: dict[str, str] = {}
    multi_headers: dict[str, list[str]] = {}
    for name, value in gateway_headers(request):
        headers[name] = value
        multi_headers.setdefault(name, []).append(value)
    query: dict[str, str] = {}
    multi_query: dict[str, list[str]] = {}
    for name, value in split_query(request.raw_query, decode=True):
        query[name] = value
        multi_query.setdefault(name, []).append(value)
    path = request.route.upstream_path
    resource, path_parameters = route_resource(request, decode=False)
    body, is_base64 = event_body(plugin, request, headers.get("content-type"), alb=False)
    stage = plugin.awsgateway_stage
    context_path = path if stage == "$default" else f"/{stage}{path}"
    return {
        "version": "1.0",
        "resource": resource,
        "path": path,
        "httpMethod": request.method,
        "headers": headers,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": path_parameters or None,
        "stageVariables": plugin.awsgateway_stage_variables or None,
        "requestContext": {
            "accountId": plugin.awsgateway_account_id,
            "apiId": plugin.awsgateway_api_id,
            "resourceId": plugin.awsgateway_resource_id,
            "resourcePath": resource,
            "stage": stage,
            "requestId": request.request_id,
            "extendedRequestId": request.request_id,
            "httpMethod": request.method,
            "path": context_path,
            "protocol": request.http_version,
            "requestTime": clf_time(request.received_at),
            "requestTimeEpoch": round(request.received_at * 1000),
            "domainName": request.host,
            "domainPrefix": request.host.split(".", 1)[0],
            "identity": {
                "accessKey": None,
                "accountId": None,
                "apiKey": None,
                "apiKeyId": None,
                "caller": None,
                "cognitoAuthenticationProvider": None,
                "cognitoAuthenticationType": None,
                "cognitoIdentityId": None,
                "cognitoIdentityPoolId": None,
                "principalOrgId": None,
                "sourceIp": request.client_ip,
                "user": None,
                "userAgent": headers.get("user-agent", ""),
                "userArn": None,
            },
        },
        "body": body,
        "isBase64Encoded": is_base64,
    }


def v2_event(plugin: LambdaPluginConfig, request: IncomingRequest) -> dict[str, Any]:
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in gateway_headers(request):
        if name == "cookie":
            cookies.extend(part for part in (c.strip() for c in value.split(";")) if part)
        elif name in headers:
            headers[name] = f"{headers[name]},{value}"
        else:
            headers[name] = value
    query: dict[str, str] = {}
    for name, value in split_query(request.raw_query, decode=True):
        query[name] = f"{query[name]},{value}" if name in query else value
    stage = plugin.awsgateway_stage
    path = unquote(request.route.upstream_path)
    raw_path = path if stage == "$default" else f"/{stage}{path}"
    shape = route_shape(request.route.matched_path)
    if shape.template is None and shape.prefix == "/":
        route_key, path_parameters = "$default", None
    else:
        resource, path_parameters = route_resource(request, decode=True)
        route_key = f"ANY {resource}"
    body, is_base64 = event_body(plugin, request, headers.get("content-type"), alb=False)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": raw_path,
        "rawQueryString": request.raw_query,
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = headers
    if query:
        event["queryStringParameters"] = query
    event["requestContext"] = {
        "accountId": plugin.awsgateway_account_id,
        "apiId": plugin.awsgateway_api_id,
        "domainName": request.host,
        "domainPrefix": request.host.split(".", 1)[0],
        "http": {
            "method": request.method,
            "path": raw_path,
            "protocol": request.http_version,
            "sourceIp": request.client_ip,
            "userAgent": headers.get("user-agent", ""),
        },
        "requestId": request.request_id,
        "routeKey": route_key,
        "stage": stage,
        "time": clf_time(request.received_at),
        "timeEpoch": round(request.received_at * 1000),
    }
    if path_parameters:
        event["pathParameters"] = path_parameters
    if plugin.awsgateway_stage_variables:
        event["stageVariables"] = plugin.awsgateway_stage_variables
    if body is not None:
        event["body"] = body
    event["isBase64Encoded"] = is_base64
    return event


def _alb_event(plugin: LambdaPluginConfig, request: IncomingRequest) -> dict[str, Any]:
    headers = gateway_headers(request)
    content_type = next((value for name, value in headers if name == "content-type"), None)
    body, is_base64 = event_body(plugin, request, content_type, alb=True)
    event: dict[str, Any] = {
        "requestContext": {"elb": {"targetGroupArn": plugin.alb_target_group_arn}},
        "httpMethod": request.method,
        "path": request.route.upstream_path,
    }
    query_args = split_query(request.raw_query, decode=False)
    if plugin.alb_multi_value_headers:
        multi_query: dict[str, list[str]] = {}
        for name, value in query_args:
            multi_query.setdefault(name, []).append(value)
        multi_headers: dict[str, list[str]] = {}
        for name, value in headers:
            multi_headers.setdefault(name, []).append(value)
        event["multiValueQueryStringParameters"] = multi_query
        event["multiValueHeaders"] = multi_headers
    else:
        event["queryStringParameters"] = dict(query_args)
        event["headers"] = dict(headers)
    event["body"] = body or ""
    event["isBase64Encoded"] = is_base64
    return event

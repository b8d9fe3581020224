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
  ``route_shape``).
- ``base64_encode_body: true`` (Kong's default) base64-encodes the body in every mode, the
  empty body included (``""`` with ``isBase64Encoded: true``, Kong's quirk). With ``false``
  the body follows the mode's AWS rule: text stays text, anything else is base64.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import unquote, unquote_plus

from .config import LambdaPluginConfig
from .snapshot import IncomingRequest
from .uri import escape, normalize

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

#: media types API Gateway (REST and HTTP API) delivers as text when base64_encode_body is off
_GATEWAY_TEXT_TYPES = frozenset(
    {
        "application/json",
        "application/javascript",
        "application/xml",
        "application/x-www-form-urlencoded",
        "application/graphql",
    }
)
#: the ALB's own list (Elastic Load Balancing guide, "Lambda functions as targets")
_ALB_TEXT_TYPES = frozenset({"application/json", "application/javascript", "application/xml"})

_FORWARDED = frozenset({"x-forwarded-for", "x-forwarded-port", "x-forwarded-proto"})


@dataclass(frozen=True, slots=True)
class RouteShape:
    """The API Gateway resource a Kong route path corresponds to.

    A regex route (``~/site/(?<siteSlug>[^/]+)$``) has a fixed ``template``
    (``/site/{siteSlug}``); a prefix route (``/api``) is a greedy proxy resource
    (``/api/{proxy+}``) whose ``prefix`` is cut from the request path.
    """

    template: str | None
    prefix: str


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
    for name, value in _gateway_headers(request):
        headers[name] = value
        multi_headers.setdefault(name, []).append(value)
    query: dict[str, str] = {}
    multi_query: dict[str, list[str]] = {}
    for name, value in _query_args(request.raw_query, decode=True):
        query[name] = value
        multi_query.setdefault(name, []).append(value)
    path = request.route.upstream_path
    resource, path_parameters = _resource(request, decode=False)
    body, is_base64 = _body(plugin, request, headers.get("content-type"), alb=False)
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
            "requestTime": _clf_time(request.received_at),
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
    for name, value in _gateway_headers(request):
        if name == "cookie":
            cookies.extend(part for part in (c.strip() for c in value.split(";")) if part)
        elif name in headers:
            headers[name] = f"{headers[name]},{value}"
        else:
            headers[name] = value
    query: dict[str, str] = {}
    for name, value in _query_args(request.raw_query, decode=True):
        query[name] = f"{query[name]},{value}" if name in query else value
    stage = plugin.awsgateway_stage
    path = unquote(request.route.upstream_path)
    raw_path = path if stage == "$default" else f"/{stage}{path}"
    shape = route_shape(request.route.matched_path)
    if shape.template is None and shape.prefix == "/":
        route_key, path_parameters = "$default", None
    else:
        resource, path_parameters = _resource(request, decode=True)
        route_key = f"ANY {resource}"
    body, is_base64 = _body(plugin, request, headers.get("content-type"), alb=False)
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
        "time": _clf_time(request.received_at),
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
    headers = _gateway_headers(request)
    content_type = next((value for name, value in headers if name == "content-type"), None)
    body, is_base64 = _body(plugin, request, content_type, alb=True)
    event: dict[str, Any] = {
        "requestContext": {"elb": {"targetGroupArn": plugin.alb_target_group_arn}},
        "httpMethod": request.method,
        "path": request.route.upstream_path,
    }
    query_args = _query_args(request.raw_query, decode=False)
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


# --- shared pieces ------------------------------------------------------------------


def _gateway_headers(request: IncomingRequest) -> list[tuple[str, str]]:
    """The client's headers, names lower-cased and in order, with the X-Forwarded-*
    headers API Gateway and ALB add (the client address is appended to any it sent)."""
    headers: list[tuple[str, str]] = []
    forwarded_for: list[str] = []
    for name, value in request.headers:
        lower = name.lower()
        if lower in _FORWARDED:
            if lower == "x-forwarded-for":
                forwarded_for.append(value)
            continue
        headers.append((lower, value))
    forwarded_for.append(request.client_ip)
    headers.append(("x-forwarded-for", ", ".join(forwarded_for)))
    headers.append(("x-forwarded-port", str(request.port)))
    headers.append(("x-forwarded-proto", request.scheme))
    return headers


def _query_args(raw_query: str, *, decode: bool) -> list[tuple[str, str]]:
    """``a=1&a=2&flag`` -> [("a", "1"), ("a", "2"), ("flag", "")]; decoded as a form
    (``+`` is a space) when ``decode``, else kept as sent (ALB)."""
    if not raw_query:
        return []
    args = []
    for part in raw_query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        if decode:
            name, value = unquote_plus(name), unquote_plus(value)
        args.append((name, value))
    return args


def _body(
    plugin: LambdaPluginConfig, request: IncomingRequest, content_type: str | None, *, alb: bool
) -> tuple[str | None, bool]:
    """(body, isBase64Encoded); body None means "no body" (null in v1, absent in v2,
    "" for ALB)."""
    data = b"" if request.body_too_large and plugin.skip_large_bodies else request.body
    if plugin.base64_encode_body:
        return base64.b64encode(data).decode("ascii"), True
    if not data:
        return None, False
    if _is_text(content_type, alb=alb):
        try:
            return data.decode("utf-8"), False
        except UnicodeDecodeError:
            pass
    return base64.b64encode(data).decode("ascii"), True


def _is_text(content_type: str | None, *, alb: bool) -> bool:
    """Whether AWS delivers a body of this type as text: ALB's fixed list (no type is
    binary), or for API Gateway also forms, +json/+xml types and a body with no type."""
    if not content_type:
        return not alb
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type.startswith("text/"):
        return True
    if alb:
        return media_type in _ALB_TEXT_TYPES
    return media_type in _GATEWAY_TEXT_TYPES or media_type.endswith(("+json", "+xml"))


def _clf_time(epoch: float) -> str:
    """``04/Mar/2020:19:15:17 +0000`` (API Gateway's requestTime / time)."""
    t = time.gmtime(epoch)
    return (
        f"{t.tm_mday:02d}/{_MONTHS[t.tm_mon - 1]}/{t.tm_year}:"
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000"
    )


def _resource(request: IncomingRequest, *, decode: bool) -> tuple[str, dict[str, str]]:
    """(resource, pathParameters) for the request.

    Regex routes: the router's named captures (of Kong's normalized path), fully decoded
    in v2 as HTTP API does. Prefix routes: the greedy ``proxy`` parameter is the rest of
    the path after the prefix, percent-encoded like v1's ``path``, or decoded (v2).
    """
    shape = route_shape(request.route.matched_path)
    if shape.template is not None:
        captures = request.route.path_captures
        if decode:
            return shape.template, {name: unquote(value) for name, value in captures.items()}
        return shape.template, dict(captures)
    path, prefix = request.raw_path, shape.prefix
    if path.startswith(prefix):
        remainder = path[len(prefix) :]
    else:  # the router matched Kong's normalized path
        normalized = normalize(path)
        remainder = escape(normalized[len(prefix) :]) if normalized.startswith(prefix) else path
    remainder = remainder.lstrip("/")
    base = prefix.rstrip("/")
    if not remainder:
        return base or "/", {}
    return f"{base}/{{proxy+}}", {"proxy": unquote(remainder) if decode else remainder}


@lru_cache(maxsize=1024)
def route_shape(matched_path: str | None) -> RouteShape:
    """The resource shape of a route path as configured (cached: one per route path).

    Regex routes: the ``~`` and the ``^``/``$`` anchors are dropped, escaped characters
    unescaped, and each named group becomes ``{name}``, or ``{name+}`` when its pattern
    can match a ``/``. Other regex syntax is kept as written. A route with no path is
    the greedy root ``/{proxy+}``.
    """
    if not matched_path:
        return RouteShape(None, "/")
    if not matched_path.startswith("~"):
        return RouteShape(None, matched_path)
    return RouteShape(_regex_template(matched_path[1:]), "")


def _regex_template(pattern: str) -> str:
    out: list[str] = []
    i, end = 0, len(pattern)
    if pattern.startswith("^"):
        i = 1
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        end -= 1
    while i < end:
        char = pattern[i]
        if char == "\\" and i + 1 < end:
            out.append(pattern[i : i + 2] if pattern[i + 1].isalnum() else pattern[i + 1])
            i += 2
            continue
        name_start = _named_group_name_start(pattern, i)
        if name_start is not None:
            name_end = pattern.index(">", name_start)
            close = _group_close(pattern, i)
            greedy = _can_match_slash(pattern[name_end + 1 : close])
            out.append(f"{{{pattern[name_start:name_end]}{'+' if greedy else ''}}}")
            i = close + 1
            continue
        out.append(char)
        i += 1
    return "".join(out) or "/"


def _named_group_name_start(pattern: str, i: int) -> int | None:
    """Where the name of a ``(?<name>`` / ``(?P<name>`` / ``(?'name'`` group opening at
    ``i`` starts, else None (lookbehinds ``(?<=``, ``(?<!`` are not named groups)."""
    if pattern.startswith("(?P<", i):
        return i + 4
    if pattern.startswith("(?<", i) and pattern[i + 3 : i + 4] not in ("=", "!"):
        return i + 3
    return None


def _group_close(pattern: str, open_at: int) -> int:
    """Index of the ``)`` closing the group opened at ``open_at`` (escapes and character
    classes skipped); the pattern's end if it is unbalanced."""
    depth, i = 0, open_at
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            i += 2
            continue
        if char == "[":
            i = _class_end(pattern, i)
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return len(pattern)


def _class_end(pattern: str, open_at: int) -> int:
    """Index of the ``]`` closing the character class opened at ``open_at``."""
    i = open_at + 1
    if pattern[i : i + 1] == "^":
        i += 1
    if pattern[i : i + 1] == "]":
        i += 1
    while i < len(pattern) and pattern[i] != "]":
        i += 2 if pattern[i] == "\\" else 1
    return i


def _can_match_slash(body: str) -> bool:
    """Whether a group's pattern can match ``/``: it has ``.``, a literal ``/``, ``\\S``,
    ``\\W`` or ``\\D``, a class holding ``/`` or a negated class without it."""
    i = 0
    while i < len(body):
        char = body[i]
        if char == "\\":
            if body[i + 1 : i + 2] in ("S", "W", "D", "/"):
                return True
            i += 2
            continue
        if char == "[":
            close = _class_end(body, i)
            if _class_matches_slash(body[i + 1 : close]):
                return True
            i = close + 1
            continue
        if char in "./":
            return True
        i += 1
    return False


def _class_matches_slash(members: str) -> bool:
    negated = members.startswith("^")
    if negated:
        members = members[1:]
    holds_slash = False
    i = 0
    while i < len(members):
        char = members[i]
        if char == "\\":
            escaped = members[i + 1 : i + 2]
            holds_slash = holds_slash or escaped in ("/", "S", "W", "D")
            char, i = escaped, i + 2
        else:
            i += 1
        if members[i : i + 1] == "-" and i + 1 < len(members):
            high = members[i + 1]
            holds_slash = holds_slash or char <= "/" <= high
            i += 2
        else:
            holds_slash = holds_slash or char == "/"
    return holds_slash != negated

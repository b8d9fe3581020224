"""The pieces the API Gateway and ALB events share: headers with X-Forwarded-*, query
arguments, the body (text or base64 by AWS's rules) and the request time."""

from __future__ import annotations

import base64
import time
from urllib.parse import unquote_plus

from .config import LambdaPluginConfig
from .snapshot import IncomingRequest

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


def gateway_headers(request: IncomingRequest) -> list[tuple[str, str]]:
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


def split_query(raw_query: str, *, decode: bool) -> list[tuple[str, str]]:
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


def event_body(
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


def clf_time(epoch: float) -> str:
    """``04/Mar/2020:19:15:17 +0000`` (API Gateway's requestTime / time)."""
    t = time.gmtime(epoch)
    return (
        f"{t.tm_mday:02d}/{_MONTHS[t.tm_mon - 1]}/{t.tm_year}:"
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000"
    )

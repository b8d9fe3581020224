"""Reading a function's return value as an HTTP response (is_proxy_integration).

Three formats, chosen by the plugin's event mode:

- API Gateway v1 (also Kong's only format): Kong's validation order and messages;
  ``headers`` and ``multiValueHeaders`` merged as API Gateway does (multiValueHeaders
  wins for a name, compared case-insensitively); ``cookies``/``statusDescription`` ignored.
- API Gateway v2: a return value without ``statusCode`` is a 200 JSON body (AWS's
  inference); ``cookies`` become one ``Set-Cookie`` each; ``multiValueHeaders`` ignored.
- ALB: as v1, and ``statusDescription`` may give the reason phrase.

Every problem raises BadLambdaResponseError whose detail says what is wrong
(``statusCode validation failed: ...``). The detail carries no prefix: the error response
puts Kong's ``could not JSON decode Lambda function response: `` (``PREFIX``) in front of
it once.

Only a final status (200-599) is an answer: API Gateway and Lambda's function URLs reject
1xx from a function (a 1xx sent as the final response hangs the client and desyncs a
keep-alive connection), and NaN or infinity is no status at all.
"""

from __future__ import annotations

import base64
import json
import math
import re
from dataclasses import dataclass
from typing import Any

from .config import LambdaPluginConfig
from .errors import BadLambdaResponseError

PREFIX = "could not JSON decode Lambda function response: "

_JSON_TYPE = (("content-type", "application/json"),)
_BASE64 = re.compile(r"[A-Za-z0-9+/]*")
#: RFC 9110 token characters (a header name)
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BAD_VALUE_CHARS = re.compile(r"[\r\n\x00]")
#: control characters a reason phrase may not hold either (RFC 9112: HTAB, SP, VCHAR,
#: obs-text): clients reject the status line (h11 does)
_BAD_REASON_CHARS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
#: what Lua's tonumber() reads as a decimal number (ASCII only: Python's float() also
#: takes "1_0", "nan", "inf" and non-ASCII digits)
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_HEX_INTEGER = re.compile(r"0[xX][0-9A-Fa-f]+")


@dataclass(frozen=True, slots=True)
class ProxyResponse:
    status: int
    headers: tuple[tuple[str, str], ...]  # repeats kept (multiValueHeaders, cookies)
    body: bytes
    #: reason phrase from an ALB response's statusDescription ("200 OK" -> "OK"), if any
    reason: str | None = None


def parse_proxy_response(plugin: LambdaPluginConfig, body: bytes) -> ProxyResponse:
    """Parse the function's return value in the format the plugin's event mode implies:
    API Gateway v1 (Kong's rules), v2, or ALB. Raises BadLambdaResponseError with a
    message that says what is wrong (Kong's texts where Kong has one)."""
    if plugin.alb_target_compatible:
        return _parse_alb(body)
    if plugin.function_url_compatible:  # Function URLs read answers by the 2.0 rules
        return parse_v2(body)
    if plugin.awsgateway_compatible and plugin.awsgateway_compatible_payload_version == "2.0":
        return parse_v2(body)
    return _parse_v1(body)


def _parse_v1(payload: bytes) -> ProxyResponse:
    return _v1_response(_decode_object(payload))


def _v1_response(obj: dict[str, Any]) -> ProxyResponse:
    status = status_code(obj)
    headers = typed_field(obj, "headers", (dict, list), "headers must be a table")
    body = typed_field(obj, "body", str, "body must be a string")
    is_base64 = typed_field(obj, "isBase64Encoded", bool, "isBase64Encoded must be a boolean")
    multi = typed_field(obj, "multiValueHeaders", (dict, list), "multiValueHeaders must be a table")
    return ProxyResponse(status, _merged_headers(headers, multi), _body_bytes(body, is_base64))


def parse_v2(payload: bytes) -> ProxyResponse:
    obj = _decode(payload)
    if not isinstance(obj, dict) or "statusCode" not in obj:
        body = obj.encode("utf-8", "surrogatepass") if isinstance(obj, str) else payload
        return ProxyResponse(200, _JSON_TYPE, body)
    status = status_code(obj)
    headers = typed_field(obj, "headers", dict, "headers must be a table")
    body = typed_field(obj, "body", str, "body must be a string")
    is_base64 = typed_field(obj, "isBase64Encoded", bool, "isBase64Encoded must be a boolean")
    cookies = typed_field(obj, "cookies", list, "cookies must be an array of strings")
    out: list[tuple[str, str]] = []
    for name, value in (headers or {}).items():
        out.append((header_name(name), header_value(name, value)))
    for cookie in cookies or ():
        if not isinstance(cookie, str):
            raise _bad(f"cookies must be an array of strings, found {_json_type(cookie)}")
        out.append(("set-cookie", header_value("set-cookie", cookie)))
    return ProxyResponse(status, tuple(out), _body_bytes(body, is_base64))


def _parse_alb(payload: bytes) -> ProxyResponse:
    obj = _decode_object(payload)
    response = _v1_response(obj)
    description = obj.get("statusDescription")
    if description is None:
        return response
    if not isinstance(description, str):
        raise _bad("statusDescription must be a string")
    code, _, reason = description.strip().partition(" ")
    reason = reason.strip() if code.isdigit() else description.strip()
    if _BAD_VALUE_CHARS.search(reason):
        raise _bad("statusDescription must not contain line breaks")
    if _BAD_REASON_CHARS.search(reason):
        raise _bad("statusDescription must not contain control characters")
    return ProxyResponse(response.status, response.headers, response.body, reason or None)


# --- pieces ---------------------------------------------------------------------------


def _bad(problem: str) -> BadLambdaResponseError:
    """The error for an invalid answer. Its detail is only the problem: the prefix is added
    once, by the error response (it used to be added here too, which doubled it)."""
    return BadLambdaResponseError(problem)


def _decode(payload: bytes) -> Any:
    if not payload.strip():
        raise _bad("proxy response must be json format, the function returned an empty body")
    try:
        return json.loads(payload)
    except (ValueError, RecursionError) as exc:
        raise _bad(f"invalid JSON: {exc}") from None


def _decode_object(payload: bytes) -> dict[str, Any]:
    obj = _decode(payload)
    if not isinstance(obj, dict):
        raise _bad(
            f"statusCode validation failed: the response is a JSON {_json_type(obj)}, "
            "not an object with a statusCode"
        )
    return obj


def status_code(obj: dict[str, Any]) -> int:
    """Kong: a number, or a string Lua's tonumber() reads; a final status, 200-599."""
    value = obj.get("statusCode")
    status: float | None = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        status = value
    elif isinstance(value, str):
        text = value.strip(" \t\r\n\f\v")
        if _HEX_INTEGER.fullmatch(text):
            status = int(text, 16)
        elif _DECIMAL.fullmatch(text):
            status = float(text)
    if status is None or not math.isfinite(status):
        shown = "missing" if value is None else f"{_json_type(value)} {_shown(value)}"
        raise _bad(f"statusCode validation failed: statusCode is {shown}, not a number")
    if status != int(status) or not 100 <= status <= 599:
        raise _bad(f"statusCode validation failed: {_shown(value)} is not an HTTP status (200-599)")
    if status < 200:
        raise _bad(
            f"statusCode validation failed: {_shown(value)} is an informational (1xx) status, "
            "not a final response (200-599)"
        )
    return int(status)


def _shown(value: Any) -> str:
    """``value`` as JSON, cut short (NaN and infinity as the JSON decoder read them)."""
    if isinstance(value, (dict, list)):
        return "{...}" if isinstance(value, dict) else "[...]"
    return json.dumps(value)[:40]


def typed_field(obj: dict[str, Any], key: str, types: type | tuple[type, ...], message: str) -> Any:
    """``obj[key]`` if absent, null or of ``types``; else Kong's ``message``."""
    value = obj.get(key)
    if value is None or isinstance(value, types):
        return value
    raise _bad(f"{message}, found {_json_type(value)}")


def _merged_headers(
    headers: dict[str, Any] | list[Any] | None, multi: dict[str, Any] | list[Any] | None
) -> tuple[tuple[str, str], ...]:
    """API Gateway's merge: every multiValueHeaders name replaces the same name (any
    case) from headers. Case variants within headers (serverless-wsgi's and Mangum's way
    to repeat a header on ALB) stay separate lines."""
    single = _as_table(headers, "headers")
    multiple = _as_table(multi, "multiValueHeaders")
    replaced = {name.lower() for name in multiple}
    out: list[tuple[str, str]] = []
    for name, value in single.items():
        if name.lower() not in replaced:
            out.extend(_header_lines(name, value))
    for name, values in multiple.items():
        out.extend(_header_lines(name, values))
    return tuple(out)


def _as_table(value: dict[str, Any] | list[Any] | None, field: str) -> dict[str, Any]:
    if isinstance(value, list):
        if value:  # a JSON array is a Lua table, but its keys are no header names
            raise _bad(f"{field} must be a table of header names, found a non-empty array")
        return {}
    return value or {}


def _header_lines(name: str, value: Any) -> list[tuple[str, str]]:
    checked = header_name(name)
    if isinstance(value, list):
        return [(checked, header_value(name, item)) for item in value]
    return [(checked, header_value(name, value))]


def header_name(name: str) -> str:
    if not _TOKEN.fullmatch(name):
        raise _bad(f"invalid header name {json.dumps(name)[:60]}")
    return name


def header_value(name: str, value: Any) -> str:
    """Strings as they are; numbers and booleans as Lua's tostring() writes them."""
    if isinstance(value, str):
        text = value
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, int):
        text = str(value)
    elif isinstance(value, float):
        text = format(value, ".14g")
    else:
        raise _bad(
            f"header '{name}' has an invalid value: {_json_type(value)} "
            "(expected a string, number or boolean)"
        )
    if _BAD_VALUE_CHARS.search(text):
        raise _bad(f"header '{name}' has a value with a line break or NUL character")
    if not _is_unicode(text):
        raise _bad(f"header '{name}' has a value with an unpaired surrogate (\\ud800-\\udfff)")
    return text


def _is_unicode(text: str) -> bool:
    """False for a string holding an unpaired surrogate (JSON allows "\\ud800"), which
    has no UTF-8 form and so cannot go into a header."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _body_bytes(body: str | None, is_base64: bool | None) -> bytes:
    if not body:
        return b""
    if is_base64:
        return _nginx_b64decode(body)
    return body.encode("utf-8", "surrogatepass")


def _nginx_b64decode(text: str) -> bytes:
    """Decode like nginx's ngx_decode_base64 (Kong): read up to the first ``=``, reject
    other characters outside the alphabet and a length of 4n+1; missing padding is fine."""
    data = text.split("=", 1)[0]
    if not _BASE64.fullmatch(data) or len(data) % 4 == 1:
        raise _bad("body is not valid base64 although isBase64Encoded is true")
    return base64.b64decode(data + "=" * (-len(data) % 4))


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"

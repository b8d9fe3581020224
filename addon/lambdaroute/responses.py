"""Invoke result -> the HTTP response the client gets (Kong's rules, minus its traps).

Kong's rules kept: Lambda's status (200/202/204), ``unhandled_status`` on
``X-Amz-Function-Error: Unhandled``, Lambda's headers forwarded minus Content-Length and
hop-by-hop headers, proxy integration with proxy headers winning, a ``Via`` header.

Kong's traps avoided:
- the function's log tail (``X-Amz-Log-Result``) is never sent to the client; it is
  decoded and handed back in ``ShapedResponse.function_logs`` for mitmproxy's log;
- the body passes through byte for byte (Kong decodes and re-encodes JSON, losing key
  order and turning ``[]`` into ``{}``); ``empty_arrays_mode: legacy`` opts back in;
- errors are not all 500: see errors.py for the status of each cause;
- with proxy integration a function error (``X-Amz-Function-Error``) is not parsed as a
  response (Kong reports ``statusCode validation failed``): it raises FunctionFailedError,
  a 502 (``unhandled_status`` for Unhandled) naming the function's errorType and message.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from .config import LambdaPluginConfig
from .errors import (
    BadLambdaResponseError,
    FunctionFailedError,
    InvocationError,
    LambdaServiceError,
)
from .function_errors import function_error_of
from .invocation import InvokeResult
from .proxy_integration import parse_proxy_response

try:
    PRODUCT = f"lambda-route/{version('lambda-route')}"
except PackageNotFoundError:  # running from a checkout that is not pip-installed
    PRODUCT = "lambda-route"

#: never forwarded from the Invoke API's response (Kong strips the same, plus the log tail)
DROPPED_HEADERS = frozenset(
    {
        "content-length",
        "connection",
        "keep-alive",
        "proxy-connection",
        "upgrade",
        "transfer-encoding",
        "te",
        "trailer",
        "x-amz-log-result",
    }
)
NO_BODY_STATUSES = frozenset({204, 304})
JSON_CONTENT_TYPE = "application/json; charset=utf-8"


@dataclass(frozen=True, slots=True)
class ShapedResponse:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    #: the decoded log tail (log_type Tail), for mitmproxy's log and the flow, never the client
    function_logs: str | None = None
    #: the X-Amz-Function-Error value, if the function failed
    function_error: str | None = None
    #: a reason phrase the function chose (ALB's statusDescription)
    reason: str | None = None


def via_header(client_http_version: str) -> str:
    """``1.1 lambda-route/x.y.z`` for an HTTP/1.1 client, ``2 ...`` for HTTP/2 (RFC 9110 7.6.3)."""
    protocol_version = client_http_version.removeprefix("HTTP/")
    if protocol_version in ("2.0", "3.0"):
        protocol_version = protocol_version[0]
    return f"{protocol_version} {PRODUCT}"


def shape_response(
    plugin: LambdaPluginConfig, result: InvokeResult, *, client_http_version: str
) -> ShapedResponse:
    """Raises BadLambdaResponseError when is_proxy_integration is on and the answer is invalid."""
    headers: list[tuple[str, str]] = []
    function_logs = function_error = None
    existing_via = None
    for name, value in result.headers:
        lower = name.lower()
        if lower == "x-amz-log-result":
            function_logs = decode_log_result(value)
        elif lower == "x-amz-function-error":
            function_error = value
        elif lower == "via":
            existing_via = value
            continue
        if lower not in DROPPED_HEADERS:
            headers.append((name, value))

    if plugin.is_proxy_integration or plugin.function_url_compatible:
        if function_error is not None:
            raise _function_failed(plugin, result)
        proxied = parse_proxy_response(plugin, result.body)
        overridden = {name.lower() for name, _ in proxied.headers}
        headers = [h for h in headers if h[0].lower() not in overridden]
        headers.extend(h for h in proxied.headers if h[0].lower() not in DROPPED_HEADERS)
        status, body, reason = proxied.status, proxied.body, proxied.reason
    else:
        status, body, reason = result.status, result.body, None
        if plugin.unhandled_status is not None and function_error == "Unhandled":
            status = plugin.unhandled_status
        if plugin.empty_arrays_mode == "legacy" and _is_json(headers):
            body = _legacy_empty_arrays(body)

    via = via_header(client_http_version)
    headers.append(("Via", f"{existing_via}, {via}" if existing_via else via))
    return ShapedResponse(
        status=status,
        headers=tuple(headers),
        body=b"" if status in NO_BODY_STATUSES else body,
        function_logs=function_logs,
        function_error=function_error,
        reason=reason,
    )


def error_response(error: InvocationError, request_id: str) -> ShapedResponse:
    """A gateway-style JSON error: ``message``, what went wrong, and the request id."""
    document: dict[str, Any] = {"message": error.public_message}
    headers = [("Content-Type", JSON_CONTENT_TYPE)]
    if isinstance(error, LambdaServiceError):
        document["error"] = f"{error.error_type}: {error.aws_message}"
        if error.request_id:
            document["lambda_request_id"] = error.request_id
        if error.retry_after:
            headers.append(("Retry-After", error.retry_after))
    elif isinstance(error, BadLambdaResponseError):
        document["error"] = f"could not JSON decode Lambda function response: {error.detail}"
    elif isinstance(error, FunctionFailedError):
        failure = error.failure
        document["error"] = error.detail
        document["function_error"] = failure.kind
        document["errorType"] = failure.error_type
        document["errorMessage"] = failure.error_message
        if error.lambda_request_id:
            document["lambda_request_id"] = error.lambda_request_id
    else:
        document["error"] = error.detail
    document["request_id"] = request_id
    return ShapedResponse(
        status=error.status_code,
        headers=tuple(headers),
        body=json.dumps(document, ensure_ascii=False).encode(),
    )


def _function_failed(plugin: LambdaPluginConfig, result: InvokeResult) -> FunctionFailedError:
    failure = function_error_of(result.headers, result.body)
    assert failure is not None  # only called when X-Amz-Function-Error is there
    status = 502
    if plugin.unhandled_status is not None and failure.kind == "Unhandled":
        status = plugin.unhandled_status
    request_id = next((v for k, v in result.headers if k.lower() == "x-amzn-requestid"), None)
    return FunctionFailedError(failure, status_code=status, lambda_request_id=request_id)


def decode_log_result(value: str) -> str:
    try:
        return base64.b64decode(value).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return value


def _is_json(headers: list[tuple[str, str]]) -> bool:
    for name, value in headers:
        if name.lower() == "content-type":
            media_type = value.split(";", 1)[0].strip().lower()
            return media_type.startswith("application/") and media_type.endswith("json")
    return False


def _legacy_empty_arrays(body: bytes) -> bytes:
    """Kong's default ``empty_arrays_mode: legacy``: every empty JSON array becomes ``{}``."""
    try:
        document = json.loads(body)
    except ValueError:
        return body

    def convert(value: Any) -> Any:
        if isinstance(value, list):
            return [convert(v) for v in value] if value else {}
        if isinstance(value, dict):
            return {k: convert(v) for k, v in value.items()}
        return value

    return json.dumps(convert(document), ensure_ascii=False, separators=(",", ":")).encode()

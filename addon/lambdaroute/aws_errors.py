"""AWS's answers and transport failures -> the ``InvocationError`` the client sees, for
the Invoke and the streaming calls alike (botocore's rest-json error parsing; every text
taken from an answer is redacted, since it may quote the signed request)."""

from __future__ import annotations

import json
import re
import socket
from typing import TYPE_CHECKING

from .errors import LambdaServiceError, TransportError
from .http_errors import (
    CertificateError,
    ConnectError,
    IncompleteBodyError,
    MalformedResponseError,
    ProxyConnectError,
    ProxyRefusedError,
    ResponseTooLargeError,
    ServerDisconnectedError,
    TlsError,
)
from .redaction import redact
from .signing import AwsCredentials

if TYPE_CHECKING:
    from .invoke_target import Target


def secrets_of(credentials: AwsCredentials | None) -> tuple[str | None, ...]:
    if credentials is None:
        return ()
    return (credentials.token, credentials.secret_key, credentials.access_key)


def transport_error(
    exc: BaseException, target: Target, secrets: tuple[str | None, ...] = ()
) -> TransportError:
    error = _describe_transport_error(exc, target)
    return TransportError(redact(error.detail, secrets))


def _describe_transport_error(exc: BaseException, target: Target) -> TransportError:
    authority = target.endpoint.authority
    if isinstance(exc, CertificateError):
        return TransportError(
            f"TLS certificate verification failed for {authority}: {exc.os_error}"
        )
    if isinstance(exc, TlsError):
        detail = f"TLS handshake with {authority} failed: {exc.os_error}"
        if _looks_like_plain_http(exc.os_error, target.endpoint.host):
            detail += (
                f"; {authority} looks like a plain HTTP endpoint (a local Lambda server?): "
                "set disable_https: true in the plugin config"
            )
        return TransportError(detail)
    if isinstance(exc, ProxyConnectError):
        proxy = target.proxy
        where = f"{proxy.host}:{proxy.port}" if proxy is not None else "?"
        return TransportError(f"cannot connect to the proxy {where}: {_os_reason(exc.os_error)}")
    if isinstance(exc, ProxyRefusedError):
        return TransportError(
            f"the proxy refused to connect to {authority}: {exc.status} {exc.reason}"
        )
    if isinstance(exc, ConnectError):
        if isinstance(exc.os_error, socket.gaierror):
            return TransportError(
                f"DNS lookup of {target.endpoint.host} failed: {_os_reason(exc.os_error)}"
            )
        return TransportError(f"cannot connect to {authority}: {_os_reason(exc.os_error)}")
    if isinstance(exc, ServerDisconnectedError):
        return TransportError(
            f"{authority} closed the connection before sending a complete response"
        )
    if isinstance(exc, IncompleteBodyError):
        return TransportError(f"the response from {authority} was cut short: {exc}")
    if isinstance(exc, ResponseTooLargeError):
        return TransportError(
            f"the response from {authority} was aborted: its body is larger than "
            f"lambda_max_response_body ({exc.limit} bytes)"
        )
    if isinstance(exc, MalformedResponseError):
        return TransportError(f"{authority} sent a malformed response: {exc}")
    return TransportError(f"the call to {authority} failed: {type(exc).__name__}: {exc}")


#: what OpenSSL says when the server answers the ClientHello with plain HTTP
_PLAIN_HTTP_TLS_ERRORS = ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "HTTP_REQUEST")
_AWS_DOMAINS = (".amazonaws.com", ".amazonaws.com.cn", ".api.aws", ".c2s.ic.gov", ".sc2s.sgov.gov")


def _looks_like_plain_http(error: OSError, host: str) -> bool:
    """A TLS failure that means "this is HTTP", towards a host that is not AWS's."""
    reason = f"{getattr(error, 'reason', '') or ''} {error}".upper()
    is_aws = host.lower().rstrip(".").endswith(_AWS_DOMAINS)
    return not is_aws and any(marker in reason for marker in _PLAIN_HTTP_TLS_ERRORS)


def _os_reason(error: OSError) -> str:
    return error.strerror or str(error) or type(error).__name__


def service_error(
    status: int,
    reason: str,
    headers: tuple[tuple[str, str], ...],
    body: bytes,
    function_name: str,
    secrets: tuple[str | None, ...] = (),
) -> LambdaServiceError:
    """botocore's rest-json error parsing: the code from ``x-amzn-ErrorType`` (before ``:``,
    after ``#``), else from the body; the message from the body's ``message``/``Message``.
    Everything taken from the answer is redacted (it may quote the signed request)."""
    header_map = {name.lower(): value for name, value in headers}
    try:
        document = json.loads(body) if body else None
    except ValueError:
        document = None
    fields = document if isinstance(document, dict) else {}
    error_type = header_map.get("x-amzn-errortype", "").split(":", 1)[0]
    if not error_type:
        for key in ("__type", "code", "Code", "Type"):
            if isinstance(fields.get(key), str) and fields[key]:
                error_type = fields[key]
                break
    error_type = error_type.rsplit("#", 1)[-1] or str(status)
    message = fields.get("message") or fields.get("Message")
    if not isinstance(message, str):
        message = reason if isinstance(document, dict) or not body else _text(body)
    error_type = _one_line(redact(error_type, secrets), 100)
    message = _one_line(redact(message, secrets), 1000)
    request_id = header_map.get("x-amzn-requestid")
    if request_id is not None:
        request_id = _one_line(redact(request_id, secrets), 100)
    retry_after = header_map.get("retry-after")
    if retry_after is not None and not _RETRY_AFTER.fullmatch(retry_after):
        retry_after = None  # only seconds or an HTTP date go to the client
    detail = f"Lambda Invoke of {function_name!r} failed: {status} {error_type}: {message}"
    if request_id:
        detail += f" (request id {request_id})"
    return LambdaServiceError(
        detail,
        invoke_status=status,
        error_type=error_type,
        aws_message=message,
        request_id=request_id,
        retry_after=retry_after,
    )


_RETRY_AFTER = re.compile(r"[0-9]{1,10}|[A-Za-z]{3}, [0-9]{2} [A-Za-z]{3} [0-9]{4} [0-9:]{8} GMT")


def _one_line(text: str, limit: int) -> str:
    """Whitespace runs (line breaks too) as one space, cut at ``limit``."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."


def _text(body: bytes, limit: int = 300) -> str:
    text = " ".join(body.decode("utf-8", "replace").split())
    return text if len(text) <= limit else text[:limit] + "..."

"""Exceptions raised by lambda-route.

    LambdaRouteError
     ├── ConfigError                 a config file is invalid (file, entity, field)
     └── InvocationError             a flow could not get a Lambda answer -> HTTP error response
          ├── NoRegionError          500: no aws_region, AWS_REGION or AWS_DEFAULT_REGION
          ├── CredentialsError       500: no credentials could be resolved
          ├── InvokeTimeoutError     504: the invocation exceeded `timeout`
          ├── TransportError         502: connection, DNS or TLS failure
          ├── LambdaServiceError     502 (429 for throttling): the Invoke API answered >= 400
          ├── BadLambdaResponseError 502: is_proxy_integration and the function's answer is invalid
          └── FunctionFailedError    502 (or unhandled_status): is_proxy_integration and the
                                     function failed (X-Amz-Function-Error)


          └── RequestTooLargeError   413: the request body is over lambda_max_request_body

Messages never contain secrets: they are shown to HTTP clients and written to logs (text
taken from an answer goes through ``redaction.redact`` first).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .function_errors import FunctionError


class LambdaRouteError(Exception):
    """Base class of every error lambda-route raises."""


class ConfigError(LambdaRouteError):
    """A config file is invalid. ``str()`` names the file, the entity and the field."""

    def __init__(self, message: str, *, file: str = "", entity: str = "", field: str = "") -> None:
        self.file = file
        self.entity = entity
        self.field = field
        self.message = message
        super().__init__(message)

    def __str__(self) -> str:
        where = ", ".join(
            part for part in (self.entity, self.field and f"field '{self.field}'") if part
        )
        prefix = f"{self.file}: " if self.file else ""
        return f"{prefix}{where}: {self.message}" if where else f"{prefix}{self.message}"


class InvocationError(LambdaRouteError):
    """A flow could not be answered by its Lambda; rendered as a JSON error response."""

    status_code: int = 500
    #: the ``message`` of the JSON body sent to the client
    public_message: str = "An unexpected error occurred"

    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(detail)


class NoRegionError(InvocationError):
    status_code = 500
    public_message = "No AWS region configured"


class CredentialsError(InvocationError):
    status_code = 500
    public_message = "No AWS credentials available"


class InvokeTimeoutError(InvocationError):
    status_code = 504
    public_message = "Gateway Timeout"


class TransportError(InvocationError):
    status_code = 502
    public_message = "Bad Gateway"


class LambdaServiceError(InvocationError):
    """The Invoke API rejected the call (HTTP status >= 400)."""

    public_message = "Bad Gateway"

    def __init__(
        self,
        detail: str,
        *,
        invoke_status: int,
        error_type: str,
        aws_message: str,
        request_id: str | None = None,
        retry_after: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.invoke_status = invoke_status
        self.error_type = error_type
        self.aws_message = aws_message
        self.request_id = request_id
        self.retry_after = retry_after
        if invoke_status == 429:
            self.status_code = 429
            self.public_message = "Too Many Requests"
        else:
            self.status_code = 502


class BadLambdaResponseError(InvocationError):
    """is_proxy_integration is on and the function's return value is not a valid response.
    ``detail`` is the problem alone; the error response adds Kong's prefix once."""

    status_code = 502
    public_message = "Bad Gateway"


class FunctionFailedError(InvocationError):
    """is_proxy_integration is on and the function failed: its error object is no HTTP
    response, so it never reaches the proxy-integration parser. The client gets the error
    type and message, never the stack trace."""

    status_code = 502
    public_message = "Bad Gateway"

    def __init__(
        self, failure: FunctionError, *, status_code: int = 502, lambda_request_id: str | None
    ) -> None:
        super().__init__(f"the function failed: {failure.summary()}")
        self.failure = failure
        self.status_code = status_code
        self.lambda_request_id = lambda_request_id


class RequestTooLargeError(InvocationError):
    """The request body cannot fit Lambda's payload (over lambda_max_request_body)."""

    status_code = 413
    public_message = "Payload Too Large"

"""Errors of the local Lambda server.

``FunctionsFileError`` is raised while loading a functions file. ``ServiceError`` is an
Invoke API rejection: it carries everything needed to write the response exactly as AWS
does (status, ``x-amzn-ErrorType`` header and JSON body). The constructors below use the
body shapes AWS sends for each error: ``{"Type","Message"}`` for a missing function,
``{"Type","message"}`` for request errors, ``{"message"}`` for authentication errors.
"""

from __future__ import annotations

import json
from typing import Any

SYNC_PAYLOAD_LIMIT = 6 * 1024 * 1024
"""Bytes: the request payload limit of a RequestResponse invocation."""

ASYNC_PAYLOAD_LIMIT = 1024 * 1024
"""Bytes: the request payload limit of an Event invocation."""

RESPONSE_LIMIT = 6291556
"""Bytes: the largest function result AWS returns (6 MB and, as on AWS, 100 bytes)."""


class FunctionsFileError(Exception):
    """A functions file is invalid. ``str()`` names the file, the function and the field."""

    def __init__(self, file: str, message: str, *, function: str = "", field: str = "") -> None:
        self.file = file
        self.function = function
        self.field = field
        self.message = message
        where = "".join(
            (
                f"function '{function}': " if function else "",
                f"field '{field}': " if field else "",
            )
        )
        super().__init__(f"{file}: {where}{message}")


class ServiceError(Exception):
    """An Invoke API error response (the request was rejected before the function ran).

    A plain exception class, not a frozen dataclass: the interpreter sets
    ``__traceback__``/``__context__`` on exceptions it raises.
    """

    def __init__(
        self,
        status: int,
        error_type: str,
        body: dict[str, Any],
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status, error_type)
        self.status = status
        self.error_type = error_type
        self.body = body
        self.headers = headers or {}

    def __str__(self) -> str:
        message = self.body.get("message") or self.body.get("Message") or ""
        return f"{self.status} {self.error_type}: {message}"


def _user(status: int, error_type: str, message: str) -> ServiceError:
    return ServiceError(status, error_type, {"Type": "User", "message": message})


def function_not_found(arn: str) -> ServiceError:
    return ServiceError(
        404, "ResourceNotFoundException", {"Type": "User", "Message": f"Function not found: {arn}"}
    )


def invalid_parameter(message: str) -> ServiceError:
    return _user(400, "InvalidParameterValueException", message)


def invalid_request_content(message: str) -> ServiceError:
    return _user(400, "InvalidRequestContentException", message)


def request_too_large(limit: int) -> ServiceError:
    return _user(
        413,
        "RequestTooLargeException",
        f"Request must be smaller than {limit} bytes for the InvokeFunction operation",
    )


def too_many_requests(reason: str) -> ServiceError:
    return ServiceError(
        429,
        "TooManyRequestsException",
        {"Reason": reason, "Type": "User", "message": "Rate Exceeded."},
        {"Retry-After": "1"},
    )


def service_failure(message: str) -> ServiceError:
    return ServiceError(500, "ServiceException", {"Type": "Service", "message": message})


def unknown_operation() -> ServiceError:
    return ServiceError(404, "UnknownOperationException", {"message": None})


def _auth(error_type: str, message: str) -> ServiceError:
    return ServiceError(403, error_type, {"message": message})


def missing_authentication_token() -> ServiceError:
    return _auth("MissingAuthenticationTokenException", "Missing Authentication Token")


def incomplete_signature(message: str) -> ServiceError:
    return _auth("IncompleteSignatureException", message)


def unrecognized_client() -> ServiceError:
    return _auth(
        "UnrecognizedClientException", "The security token included in the request is invalid."
    )


def invalid_signature(message: str) -> ServiceError:
    return _auth("InvalidSignatureException", message)


def response_too_large() -> bytes:
    """The function error of a result over ``RESPONSE_LIMIT``."""
    return json.dumps(
        {
            "errorMessage": "Response payload size exceeded maximum allowed payload size "
            f"({RESPONSE_LIMIT} bytes).",
            "errorType": "Function.ResponseSizeTooLarge",
        }
    ).encode()

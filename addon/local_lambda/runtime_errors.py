"""The AWS Python runtime's error objects: a handler's exception, an init failure, a result
that is not JSON.

Runs inside the worker process with ``runtime.py``: imports only the standard library.
"""

from __future__ import annotations

import json
import traceback
from typing import Any


def error_object(exc: BaseException, request_id: str) -> dict[str, Any]:
    """The AWS Python runtime's error body, without the runtime's own frame."""
    tb = exc.__traceback__.tb_next if exc.__traceback__ else None
    return {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "requestId": request_id,
        "stackTrace": traceback.format_list(traceback.extract_tb(tb)),
    }


class HandlerNotFound(Exception):
    pass


def init_error(exc: BaseException, module_name: str) -> dict[str, Any]:
    if isinstance(exc, HandlerNotFound):
        error_type, message = "Runtime.HandlerNotFound", str(exc)
    elif isinstance(exc, SyntaxError):
        error_type, message = (
            "Runtime.UserCodeSyntaxError",
            f"Syntax error in module '{module_name}': {exc}",
        )
    elif isinstance(exc, ImportError):
        error_type, message = (
            "Runtime.ImportModuleError",
            f"Unable to import module '{module_name}': {exc}",
        )
    else:
        return error_object(exc, "")
    return {"errorMessage": message, "errorType": error_type, "requestId": "", "stackTrace": []}


def marshal_error(exc: Exception, request_id: str) -> bytes:
    return json.dumps(
        {
            "errorMessage": f"Unable to marshal response: {exc}",
            "errorType": "Runtime.MarshalError",
            "requestId": request_id,
            "stackTrace": [],
        }
    ).encode()

"""A failed function's answer: ``X-Amz-Function-Error`` and the error object Lambda returns.

Lambda answers a function that raised (or timed out, or ran out of memory) with status 200,
the header ``X-Amz-Function-Error: Unhandled`` (``Handled`` from old runtimes) and an error
object whose shape depends on the runtime:

- Python, Java, .NET, Ruby: ``{"errorMessage", "errorType", "stackTrace": [str, ...]}``
- Node.js: ``{"errorType", "errorMessage", "trace": [str, ...]}``
- Go: ``{"errorMessage", "errorType", "stackTrace": [{"path", "line", "label"}, ...]}``
- a runtime failure or timeout may have only ``errorMessage``.

A body that is not such an object is kept as the message, so nothing is lost.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

#: longest errorMessage kept (a message can embed a whole document)
MAX_MESSAGE_CHARS = 4096
#: most stack trace lines kept
MAX_TRACE_LINES = 200


@dataclass(frozen=True, slots=True)
class FunctionError:
    #: the X-Amz-Function-Error value: "Unhandled" or "Handled"
    kind: str
    error_type: str | None
    error_message: str | None
    stack_trace: tuple[str, ...] = ()

    def summary(self) -> str:
        """``Unhandled PaymentDeclined: card declined`` (what the comment and log show)."""
        what = ": ".join(part for part in (self.error_type, self.error_message) if part)
        return f"{self.kind} {what}" if what else self.kind


def function_error_of(headers: tuple[tuple[str, str], ...], body: bytes) -> FunctionError | None:
    """The function error of an Invoke answer, or None when the function succeeded."""
    kind = next((value for name, value in headers if name.lower() == "x-amz-function-error"), None)
    if kind is None:
        return None
    try:
        document = json.loads(body) if body.strip() else None
    except (ValueError, RecursionError):
        document = None
    if not isinstance(document, dict):
        text = body.decode("utf-8", "replace").strip()
        return FunctionError(kind or "Unhandled", None, _clip(text) or None)
    trace = document.get("stackTrace", document.get("trace"))
    return FunctionError(
        kind=kind or "Unhandled",
        error_type=_text(document.get("errorType")),
        error_message=_text(document.get("errorMessage")),
        stack_trace=_trace_lines(trace),
    )


def stream_function_error(error_code: str, error_details: str | None) -> FunctionError:
    """A streamed function's error: ``InvokeComplete``'s ErrorCode and ErrorDetails (the
    runtime's error object as JSON, or a plain message)."""
    try:
        document = json.loads(error_details) if error_details else None
    except (ValueError, RecursionError):
        document = None
    if not isinstance(document, dict):
        return FunctionError("Unhandled", error_code, _text(error_details))
    return FunctionError(
        kind="Unhandled",
        error_type=_text(document.get("errorType")) or error_code,
        error_message=_text(document.get("errorMessage")),
        stack_trace=_trace_lines(document.get("stackTrace", document.get("trace"))),
    )


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return _clip(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))


def _clip(text: str) -> str:
    if len(text) <= MAX_MESSAGE_CHARS:
        return text
    return text[:MAX_MESSAGE_CHARS] + f"... ({len(text) - MAX_MESSAGE_CHARS} more characters)"


def _trace_lines(trace: Any) -> tuple[str, ...]:
    """Each frame as one or more text lines (Python's frames hold a newline)."""
    if isinstance(trace, str):
        frames: list[Any] = [trace]
    elif isinstance(trace, list):
        frames = trace[:MAX_TRACE_LINES]
    else:
        return ()
    lines: list[str] = []
    for frame in frames:
        if isinstance(frame, dict) and {"path", "line"} <= frame.keys():  # Go
            lines.append(f"{frame.get('label', '?')} ({frame['path']}:{frame['line']})")
        elif isinstance(frame, str):
            lines.extend(line for line in frame.rstrip("\n").split("\n"))
        else:
            lines.append(json.dumps(frame, ensure_ascii=False))
    return tuple(lines[:MAX_TRACE_LINES])

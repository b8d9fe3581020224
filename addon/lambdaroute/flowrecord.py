"""What a flow answered by Lambda records: ``flow.metadata["lambda_route"]``, the comment,
the mark, and mitmproxy's log.

The record holds what the ``Lambda`` content view shows, within a size bound: the payload
sent and the function's raw result are kept up to ``VIEW_BYTES_LIMIT`` bytes each (their
full sizes are recorded), so a flow with a 6 MB body does not carry a second 6 MB copy.
The log tail is at most 4 KB (Lambda's limit); error messages and stack traces are bounded
in ``function_errors``. The record is plain JSON-like data, so it survives ``-w`` flow files.
"""

from __future__ import annotations

import logging
import time

from mitmproxy import addonmanager, http
from mitmproxy.log import LegacyLogEvents

from .config import LambdaPluginConfig
from .errors import InvocationError
from .function_errors import FunctionError, function_error_of
from .invocation import InvokeResult
from .relay import RelayProgress
from .responses import ShapedResponse, decode_log_result

logger = logging.getLogger(__name__)

METADATA_KEY = "lambda_route"
#: bytes of the payload and of the function's result kept on the flow for the content view
VIEW_BYTES_LIMIT = 64 * 1024
#: mitmproxy markers (emoji short codes) of flows answered by Lambda
MARK_ANSWERED = ":zap:"
MARK_FAILED = ":x:"
#: characters of an error message shown in the one-line comment
COMMENT_MESSAGE_CHARS = 160


def record_flow(
    flow: http.HTTPFlow,
    *,
    route_name: str | None,
    plugin: LambdaPluginConfig,
    request_id: str,
    payload: bytes | None,
    result: InvokeResult | None,
    shaped: ShapedResponse,
    error: InvocationError | None,
    started: float,
) -> dict[str, object]:
    """Record what happened on the flow (metadata, comment, mark) and in mitmproxy's log."""
    duration_ms = round((time.perf_counter() - started) * 1000, 3)
    lambda_headers = {k.lower(): v for k, v in result.headers} if result else {}
    failure = function_error_of(result.headers, result.body) if result else None
    logs = shaped.function_logs
    if logs is None and "x-amz-log-result" in lambda_headers:  # proxy integration errors
        logs = decode_log_result(lambda_headers["x-amz-log-result"])
    target = _target(plugin)
    record: dict[str, object] = {
        **_call_fields(route_name, plugin),
        "lambda_status": result.status if result else None,
        "status": shaped.status,
        "request_id": request_id,
        "lambda_request_id": lambda_headers.get("x-amzn-requestid"),
        "executed_version": lambda_headers.get("x-amz-executed-version"),
        **_failure_fields(failure),
        "error": error.detail if error is not None else None,
        "duration_ms": duration_ms,
        "invoke_ms": round(result.duration_ms, 3) if result else None,
        "logs": logs,
        "payload_size": len(payload) if payload is not None else None,
        "payload": _bounded_text(payload),
        "result_size": len(result.body) if result else None,
        "result": _bounded_text(result.body) if result else None,
    }
    flow.metadata[METADATA_KEY] = record
    if not flow.marked:
        flow.marked = MARK_FAILED if failure or error else MARK_ANSWERED
    flow.comment = (
        f"lambda-route: {route_name} -> {target} ({_outcome(result, failure, error)}) -> "
        f"{shaped.status} in {duration_ms:.1f} ms"
    )
    if failure:
        label = f"{flow.request.method} {flow.request.pretty_url}"
        _log_function_error(label, target, failure, lambda_headers.get("x-amzn-requestid"), logs)
    elif logs and _shown(logging.INFO):
        logger.info(
            f"lambda-route: {target} logs (RequestId {record['lambda_request_id']}):\n"
            + logs.rstrip()
        )
    return record


def _shown(level: int) -> bool:
    """Whether a handler would take a record of ``level`` from this module's logger: the
    function's log tail is formatted for every flow otherwise (``-q`` hides INFO)."""
    if not logger.isEnabledFor(level):
        return False
    current: logging.Logger | None = logger
    found = False
    while current is not None:
        for handler in current.handlers:
            found = True
            if level >= handler.level and _wanted(handler):
                return True
        current = current.parent if current.propagate else None
    return not found and logging.lastResort is not None and level >= logging.lastResort.level


def _wanted(handler: logging.Handler) -> bool:
    """mitmdump's ``LegacyLogEvents`` takes every record at every level, formats it and
    triggers the deprecated ``add_log`` event on all addons (some 300 us a flow): it only
    shows a record to an addon that has ``add_log``."""
    if not isinstance(handler, LegacyLogEvents):
        return True
    addons = addonmanager.traverse(handler.master.addons.chain)
    return any(callable(getattr(addon, "add_log", None)) for addon in addons)


def record_stream(
    flow: http.HTTPFlow,
    *,
    route_name: str | None,
    plugin: LambdaPluginConfig,
    request_id: str,
    payload: bytes | None,
    status: int,
    progress: RelayProgress,
    started: float,
) -> dict[str, object]:
    """Record a relayed response stream once it ended (``progress.outcome``): its time to
    first byte, chunks, bytes and outcome, with the function's error and logs."""
    duration_ms = round((time.perf_counter() - started) * 1000, 3)
    failure = progress.failure
    target = _target(plugin)
    record: dict[str, object] = {
        **_call_fields(route_name, plugin),
        "lambda_status": progress.lambda_status,
        "status": status,
        "request_id": request_id,
        "lambda_request_id": progress.lambda_request_id,
        "executed_version": progress.executed_version,
        **_failure_fields(failure),
        "error": progress.error,
        "duration_ms": duration_ms,
        "invoke_ms": None,
        "logs": progress.function_logs,
        "payload_size": len(payload) if payload is not None else None,
        "payload": _bounded_text(payload),
        "result_size": None,
        "result": None,
        "stream": progress.as_record(),
    }
    flow.metadata[METADATA_KEY] = record
    ok = progress.outcome == "complete"
    if not flow.marked or flow.marked == MARK_ANSWERED:
        flow.marked = MARK_ANSWERED if ok else MARK_FAILED
    first_byte = progress.first_byte_ms
    flow.comment = (
        f"lambda-route: {route_name} -> {target} (stream {progress.outcome}"
        + (f", first byte {first_byte:.1f} ms" if first_byte is not None else "")
        + f", {progress.chunks} chunks, {progress.bytes} bytes) -> {status} in "
        f"{duration_ms:.1f} ms"
    )
    label = f"{flow.request.method} {flow.request.pretty_url}"
    if failure is not None:
        _log_function_error(
            label, target, failure, progress.lambda_request_id, progress.function_logs
        )
    elif not ok:
        logger.warning(
            f"lambda-route: {label} -> {target}: the response stream ended early "
            f"({progress.outcome}): {progress.error or 'no detail'}; the client's response "
            "was cut short"
        )
    elif progress.function_logs:
        logger.info(
            f"lambda-route: {target} logs (RequestId {progress.lambda_request_id}):\n"
            + progress.function_logs.rstrip()
        )
    return record


def _target(plugin: LambdaPluginConfig) -> str:
    """The function as the log and the comment name it (``name:qualifier``)."""
    target = plugin.function_name or "?"
    return f"{target}:{plugin.qualifier}" if plugin.qualifier else target


def _call_fields(route_name: str | None, plugin: LambdaPluginConfig) -> dict[str, object]:
    return {
        "route": route_name,
        "function": plugin.function_name,
        "qualifier": plugin.qualifier,
        "invocation_type": plugin.invocation_type,
        "payload_mode": payload_mode(plugin),
    }


def _failure_fields(failure: FunctionError | None) -> dict[str, object]:
    return {
        "function_error": failure.kind if failure else None,
        "error_type": failure.error_type if failure else None,
        "error_message": failure.error_message if failure else None,
        "stack_trace": list(failure.stack_trace) if failure else None,
    }


def payload_mode(plugin: LambdaPluginConfig) -> str:
    """The event format the plugin sends (the names the README uses)."""
    if plugin.alb_target_compatible:
        return "ALB target event"
    if plugin.function_url_compatible:
        return "Function URL event"
    if plugin.awsgateway_compatible:
        return f"API Gateway event {plugin.awsgateway_compatible_payload_version}"
    if (
        plugin.forward_request_method
        or plugin.forward_request_uri
        or plugin.forward_request_headers
        or plugin.forward_request_body
    ):
        return "Kong forward mode"
    return "Kong default (query args + body)"


def _outcome(
    result: InvokeResult | None, failure: FunctionError | None, error: InvocationError | None
) -> str:
    if result is None:
        return f"failed: {_clip(error.detail)}" if error is not None else "failed"
    if failure is not None:
        return f"{result.status} {_clip(failure.summary())}"
    if error is not None:  # e.g. an invalid proxy-integration response
        return f"{result.status}, {_clip(error.detail)}"
    return str(result.status)


def _log_function_error(
    label: str, target: str, failure: FunctionError, lambda_request_id: str | None, logs: str | None
) -> None:
    lines = [
        f"lambda-route: {label} -> {target}: function error {failure.summary()}"
        + (f" (RequestId {lambda_request_id})" if lambda_request_id else "")
    ]
    if failure.stack_trace:
        lines.append("stack trace:")
        lines.extend(f"  {line}" for line in failure.stack_trace)
    if logs:
        lines.append("log tail:")
        lines.extend(f"  {line}" for line in logs.rstrip().splitlines())
    logger.warning("\n".join(lines))


def _bounded_text(data: bytes | None) -> str | None:
    """Up to VIEW_BYTES_LIMIT bytes as text (a cut character or invalid UTF-8 as U+FFFD)."""
    if data is None:
        return None
    return data[:VIEW_BYTES_LIMIT].decode("utf-8", "replace")


def _clip(text: str) -> str:
    text = " ".join(text.split())
    if len(text) <= COMMENT_MESSAGE_CHARS:
        return text
    return text[: COMMENT_MESSAGE_CHARS - 3] + "..."

"""Answering a routed flow: its Invoke payload, the call (buffered, or a response stream
relayed through the intake endpoint), the shaped answer or gateway error, and the record
on the flow."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import TypedDict

from mitmproxy import http
from mitmproxy.net.http import status_codes
from mitmproxy.utils import human

from .config import LambdaPluginConfig
from .detour import Detours
from .errors import FunctionFailedError, InvocationError
from .events import build_payload
from .flow_http import flow_label, to_response
from .flowrecord import record_flow, record_stream
from .intake_types import LoopbackAnswer, ReceivedBody, StreamedAnswer
from .invocation import InvokeResult, LambdaClient
from .relay import RelayProgress, StreamFunctionError, open_relay
from .responses import ShapedResponse, error_response, shape_response, via_header
from .routing import RouteMatch
from .snapshot import snapshot_from_flow
from .streaming.invoke import LambdaStreamClient

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RoutedFlow:
    """What ``requestheaders`` learned about a flow that goes to Lambda."""

    match: RouteMatch
    plugin: LambdaPluginConfig
    scheme: str
    host: str
    port: int


def _payload(
    flow: http.HTTPFlow,
    routed: RoutedFlow,
    request_id: str,
    body_buffer_size: int,
    body: ReceivedBody | None,
) -> bytes:
    """The Invoke payload of the flow's request (``body`` when the intake endpoint
    read it)."""
    snapshot = snapshot_from_flow(
        flow,
        routed.match.context,
        scheme=routed.scheme,
        host=routed.host,
        port=routed.port,
        request_id=request_id,
        body_buffer_size=body_buffer_size,
        body=body.data if body is not None else None,
        body_too_large=body is not None and body.dropped,
    )
    payload = build_payload(routed.plugin, snapshot)
    if payload.body_skipped:
        logger.warning(
            f"lambda-route: {flow_label(flow)}: request body of "
            f"{human.pretty_size(body.size if body else len(snapshot.body))} exceeds "
            "lambda_body_buffer_size "
            f"({human.pretty_size(body_buffer_size)}); not sent "
            "(skip_large_bodies)"
        )
    return payload.data


async def answer_buffered(
    client: LambdaClient,
    flow: http.HTTPFlow,
    routed: RoutedFlow,
    request_id: str,
    body_buffer_size: int,
    body: ReceivedBody | None = None,
) -> http.Response:
    """Invoke the flow's function and shape its answer (or the gateway error), recorded on
    the flow; ``body`` when the intake endpoint read it."""
    plugin = routed.plugin
    started = time.perf_counter()
    result: InvokeResult | None = None
    payload_data: bytes | None = None
    error: InvocationError | None = None
    try:
        payload_data = _payload(flow, routed, request_id, body_buffer_size, body)
        result = await client.invoke(plugin, payload_data)
        shaped = shape_response(plugin, result, client_http_version=flow.request.http_version)
    except Exception as err:
        error, shaped = _failed(flow, plugin, err, request_id)
    record_flow(
        flow,
        **_call(routed, request_id, payload_data, started),
        result=result,
        shaped=shaped,
        error=error,
    )
    return to_response(shaped, flow.request.method)


class _CallFields(TypedDict):
    route_name: str | None
    plugin: LambdaPluginConfig
    request_id: str
    payload: bytes | None
    started: float


def _call(
    routed: RoutedFlow, request_id: str, payload: bytes | None, started: float
) -> _CallFields:
    """What both flow records take about the call."""
    route = routed.match.route
    return {
        "route_name": route.name or route.id,
        "plugin": routed.plugin,
        "request_id": request_id,
        "payload": payload,
        "started": started,
    }


def _failed(
    flow: http.HTTPFlow, plugin: LambdaPluginConfig, err: Exception, request_id: str
) -> tuple[InvocationError, ShapedResponse]:
    """The gateway error for a failed call (a bug of ours included: never a traceback for
    the client), logged unless ``record_flow`` logs it in full (a function error)."""
    if isinstance(err, InvocationError):
        error = err
        if not isinstance(err, FunctionFailedError):
            logger.warning(
                f"lambda-route: {flow_label(flow)} -> {plugin.function_name}: {err.detail}"
            )
    else:
        logger.exception(f"lambda-route: {flow_label(flow)}: internal error")
        error = InvocationError(f"internal error: {type(err).__name__}")
    return error, error_response(error, request_id)


async def answer_stream(
    stream_client: LambdaStreamClient,
    detours: Detours,
    flow: http.HTTPFlow,
    routed: RoutedFlow,
    request_id: str,
    body_buffer_size: int,
    body: ReceivedBody,
) -> LoopbackAnswer | StreamedAnswer:
    """``invoke_mode: RESPONSE_STREAM``: the head once the stream's first chunk is in,
    then the body relayed as it arrives (see ``relay``); an error before that is the
    usual JSON gateway error."""
    plugin = routed.plugin
    started = time.perf_counter()
    payload_data: bytes | None = None
    try:
        payload_data = _payload(flow, routed, request_id, body_buffer_size, body)
        relayed = await open_relay(stream_client, plugin, payload_data)
    except Exception as err:
        error, shaped = _failed(flow, plugin, err, request_id)
        if isinstance(err, StreamFunctionError) and err.function_logs:
            shaped = dataclasses.replace(shaped, function_logs=err.function_logs)
        record_flow(
            flow,
            **_call(routed, request_id, payload_data, started),
            result=None,
            shaped=shaped,
            error=error,
        )
        return detours.loopback_answer(flow, to_response(shaped, flow.request.method))
    head = relayed.head
    headers = (*head.headers, ("Via", via_header(flow.request.http_version)))

    def ended(progress: RelayProgress) -> None:
        record_stream(
            flow,
            **_call(routed, request_id, payload_data, started),
            status=head.status,
            progress=progress,
        )

    detours.relayed.add(flow)
    reason = status_codes.RESPONSES.get(head.status, "")
    if flow.request.method == "HEAD":  # no body to relay
        await relayed.close()
        relayed.progress.outcome = "complete"
        ended(relayed.progress)
        return StreamedAnswer(head.status, reason, headers, _no_body())
    return StreamedAnswer(head.status, reason, headers, relayed.body(ended))


async def _no_body() -> AsyncGenerator[bytes, None]:
    pieces: tuple[bytes, ...] = ()
    for piece in pieces:
        yield piece

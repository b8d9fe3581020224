"""The mitmproxy addon's flow hooks (its options, config (re)loading and life cycle are
in its base class, ``addon_setup.AddonSetup``).

A flow is matched in ``requestheaders`` (so that a routed request is never streamed
upstream and, in reverse mode, so that the client's Host is still there) and answered in
``request``, once its body is in, by a Lambda invocation made without blocking the loop.
"""

from __future__ import annotations

import logging
import os
import time
import weakref
from collections.abc import Coroutine

from mitmproxy import http
from mitmproxy.proxy import mode_specs

from .addon_setup import AddonSetup
from .answering import RoutedFlow, answer_buffered, answer_stream
from .auth import authorize
from .detour import Detours, IntakePlan, known_body_size
from .errors import RequestTooLargeError
from .flow_http import (
    client_authority,
    flow_label,
    https_required,
    restore_reverse_host_header,
    to_response,
)
from .flowrecord import METADATA_KEY as METADATA_KEY  # re-exported: where flows keep it
from .flowrecord import record_flow
from .http_client import DEFAULT_MAX_BODY
from .intake import IntakeEndpoint
from .intake_types import LoopbackAnswer, ReceivedBody, StreamedAnswer
from .responses import error_response
from .routing import Router, request_protocol, select_lambda_plugin

logger = logging.getLogger(__name__)


class LambdaRoute(AddonSetup):
    def __init__(self) -> None:
        self.config = None
        self.router = None
        self.body_buffer_size = 6 * 1024 * 1024
        self.max_request_body = 6 * 1024 * 1024
        self.max_response_body = DEFAULT_MAX_BODY
        self.client = None
        self.stream_client = None
        self._config_stamp = None
        self._matches: weakref.WeakKeyDictionary[http.HTTPFlow, RoutedFlow] = (
            weakref.WeakKeyDictionary()
        )
        self._restores_host_header = False
        self._tasks = set()
        self._logged_warnings = frozenset()
        self.intake = IntakeEndpoint()
        self.detours = Detours(self.intake)
        self._stream_large_bodies = None

    # --- flow hooks ---

    def requestheaders(self, flow: http.HTTPFlow) -> Coroutine[None, None, None] | None:
        """Match the flow; a routed one is kept off the upstream from here on. A plain
        function that returns a coroutine only while the intake endpoint is starting."""
        if self.router is None or flow.response or flow.error or not flow.live:
            return None
        try:
            routed = self._match(self.router, flow)
        except Exception:  # a bug of ours must not break the flow: it passes through
            logger.exception(f"lambda-route: {flow_label(flow)}: routing failed, passing through")
            routed = None
        if isinstance(routed, http.Response):  # Kong's 401 (or 403) from an auth plugin
            return self._answer_early(flow, routed)
        if routed is None:
            if self._restores_host_header and isinstance(
                flow.client_conn.proxy_mode, mode_specs.ReverseMode
            ):
                restore_reverse_host_header(flow)
            return None
        if routed.match.https_redirect_status_code is not None:
            redirect = https_required(
                routed.match.https_redirect_status_code, routed.host, flow.request.path
            )
            return self._answer_early(flow, redirect)
        # only a response read from a server connection can be streamed to the client
        streams = routed.plugin.invoke_mode == "RESPONSE_STREAM"
        if not streams and self._fits_in_memory(flow.request):
            # the fast path: mitmproxy buffers the body and never decides to stream it
            self._matches[flow] = routed
            flow.request.stream = False
            return None
        return self._detour(flow, routed)

    def _fits_in_memory(self, request: http.Request) -> bool:
        """The body's size is known and mitmproxy will buffer it whole, never stream it."""
        size = known_body_size(request)
        return (
            size is not None
            and size <= min(self.body_buffer_size, self.max_request_body)
            and (self._stream_large_bodies is None or size <= self._stream_large_bodies)
        )

    def _match(self, router: Router, flow: http.HTTPFlow) -> RoutedFlow | http.Response | None:
        """The route with an aws-lambda plugin this flow goes to, if any; a flow that
        the route's auth plugins reject gets Kong's 401 instead."""
        request = flow.request
        scheme = "https" if flow.client_conn.tls else "http"
        host, port = client_authority(request, scheme)
        match = router.match(
            method=request.method,
            scheme=scheme,
            host=host,
            port=port,
            path=request.path.partition("?")[0],
            headers=request.headers.items(multi=True),
            sni=flow.client_conn.sni,
        )
        if match is None:
            return None
        plugin = match.route.lambda_plugin
        if (
            match.route.per_request_plugins
            and match.https_redirect_status_code is None
            and self.config is not None
        ):
            protocol = request_protocol(scheme == "https", request.headers.get("content-type"))
            access = authorize(match.route, self.config.credentials, request, protocol)
            if access.response is not None:
                return access.response
            plugin = select_lambda_plugin(match.route, access.consumer, protocol)
        if plugin is None:
            return None
        return RoutedFlow(match, plugin, scheme, host, port)

    def _answer_early(
        self, flow: http.HTTPFlow, response: http.Response
    ) -> Coroutine[None, None, None] | None:
        """Answer a routed flow without calling its function (auth, https-only route).

        mitmproxy cannot stream a body into a flow whose response is set, and may already
        have decided to stream this one (``stream_large_bodies``): a body that may not fit
        in memory goes to the intake endpoint, which reads and drops it, then answers."""
        if self._fits_in_memory(flow.request):
            flow.request.stream = False
            flow.response = response
            return None

        async def answer(body: ReceivedBody) -> LoopbackAnswer:
            return self.detours.loopback_answer(flow, response)

        def refuse(size: int | None) -> LoopbackAnswer:
            return self.detours.loopback_answer(flow, response)

        return self.detours.send(flow, IntakePlan(0, True, answer, refuse))

    def _detour(
        self, flow: http.HTTPFlow, routed: RoutedFlow
    ) -> Coroutine[None, None, None] | None:
        """Stream the flow's body to the intake endpoint, which answers it (see detour)."""
        request_id = os.urandom(16).hex()
        started = time.perf_counter()
        plugin = routed.plugin
        sends_body = (
            plugin.function_url_compatible
            or plugin.awsgateway_compatible
            or plugin.alb_target_compatible
            or plugin.forward_request_body
        )
        drop = (plugin.skip_large_bodies or not sends_body) and (
            self.body_buffer_size <= self.max_request_body
        )

        async def answer(body: ReceivedBody) -> LoopbackAnswer | StreamedAnswer:
            if plugin.invoke_mode == "RESPONSE_STREAM":
                assert self.stream_client is not None
                return await answer_stream(
                    self.stream_client,
                    self.detours,
                    flow,
                    routed,
                    request_id,
                    self.body_buffer_size,
                    body,
                )
            assert self.client is not None
            response = await answer_buffered(
                self.client, flow, routed, request_id, self.body_buffer_size, body
            )
            return self.detours.loopback_answer(flow, response)

        def refuse(size: int | None) -> LoopbackAnswer:
            error = RequestTooLargeError(
                f"the request body{f' of {size} bytes' if size is not None else ''} is larger "
                f"than lambda_max_request_body ({self.max_request_body} bytes)"
            )
            logger.warning(f"lambda-route: {flow_label(flow)}: {error.detail}")
            shaped = error_response(error, request_id)
            record_flow(
                flow,
                route_name=routed.match.route.name or routed.match.route.id,
                plugin=plugin,
                request_id=request_id,
                payload=None,
                result=None,
                shaped=shaped,
                error=error,
                started=started,
            )
            return self.detours.loopback_answer(flow, to_response(shaped, flow.request.method))

        limit = min(self.body_buffer_size, self.max_request_body)
        return self.detours.send(flow, IntakePlan(limit, drop, answer, refuse))

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        self.detours.responseheaders(flow)

    def response(self, flow: http.HTTPFlow) -> None:
        self.detours.response(flow)

    def error(self, flow: http.HTTPFlow) -> None:
        self.detours.error(flow)

    def request(self, flow: http.HTTPFlow) -> Coroutine[None, None, None] | None:
        """Answer a routed flow. A plain function that returns the coroutine only for
        routed flows (mitmproxy awaits what a hook returns), so that unrouted flows pay
        for no coroutine at all."""
        routed = self._matches.pop(flow, None)
        if routed is None or flow.response or flow.error or not flow.live:
            return None
        return self._answer_in_place(flow, routed)

    async def _answer_in_place(self, flow: http.HTTPFlow, routed: RoutedFlow) -> None:
        assert self.client is not None
        flow.response = await answer_buffered(
            self.client, flow, routed, os.urandom(16).hex(), self.body_buffer_size
        )

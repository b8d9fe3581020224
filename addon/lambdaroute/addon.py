"""The mitmproxy addon: options, config (re)loading and the flow hooks.

A flow is matched in ``requestheaders`` (so that a routed request is never streamed
upstream and, in reverse mode, so that the client's Host is still there) and answered in
``request``, once its body is in, by a Lambda invocation made without blocking the loop.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import time
import weakref
from collections.abc import Coroutine, Sequence
from typing import Any

from mitmproxy import command, ctx, http
from mitmproxy.proxy import mode_specs
from mitmproxy.utils import human

from .answering import RoutedFlow, answer_buffered, answer_stream
from .auth import authorize
from .config import LambdaRouteConfig, load_config
from .config_watch import SETTLE_SECONDS, FileState, SettleTracker, file_state
from .contentview import register_lambda_view
from .detour import Detours, IntakePlan, known_body_size
from .errors import ConfigError, RequestTooLargeError
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
from .intake import IntakeEndpoint, LoopbackAnswer, ReceivedBody, StreamedAnswer
from .invocation import LambdaClient
from .responses import error_response
from .routes_listing import describe_routes
from .routing import Router, request_protocol, select_lambda_plugin
from .streaming.invoke import LambdaStreamClient

logger = logging.getLogger(__name__)


class LambdaRoute:
    def __init__(self) -> None:
        self.config: LambdaRouteConfig | None = None
        self.router: Router | None = None
        self.body_buffer_size = 6 * 1024 * 1024
        self.max_request_body = 6 * 1024 * 1024
        self.max_response_body = DEFAULT_MAX_BODY
        self.client: LambdaClient | None = None
        #: RESPONSE_STREAM calls, over the Invoke client's pools and credentials
        self.stream_client: LambdaStreamClient | None = None
        self._config_stamp: FileState | None = None
        self._matches: weakref.WeakKeyDictionary[http.HTTPFlow, RoutedFlow] = (
            weakref.WeakKeyDictionary()
        )
        #: we turned keep_host_header on, so we rewrite Host for unrouted reverse flows
        self._restores_host_header = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._logged_warnings: frozenset[str] = frozenset()
        #: where routed flows with large or unknown-size bodies are streamed (see detour)
        self.intake = IntakeEndpoint()
        self.detours = Detours(self.intake)
        self._stream_large_bodies: int | None = None

    # --- options and config ---

    def load(self, loader: Any) -> None:
        loader.add_option(
            "lambda_config",
            str | None,
            None,
            "Kong declarative config file (YAML or JSON) whose routes with an aws-lambda "
            "plugin are answered by Lambda. Unset: the addon is idle. The file is watched "
            "and reloaded when it changes; a reload that fails keeps the last good config.",
        )
        loader.add_option(
            "lambda_body_buffer_size",
            str,
            "6m",
            "Request bodies larger than this (e.g. 8k, 6m) count as 'buffered to disk' for "
            "skip_large_bodies. Kong's threshold is 8k; ours defaults to 6m, Lambda's own "
            "payload limit.",
        )
        loader.add_option(
            "lambda_max_request_body",
            str,
            "6m",
            "Hard limit on a routed request body that is sent to Lambda (Lambda's own "
            "synchronous payload limit is 6 MB): a larger one gets a 413 JSON error as soon "
            "as it is known to be larger (Content-Length, else when the limit is crossed) "
            "and is never held in memory. Bodies that skip_large_bodies leaves out are read "
            "and dropped instead.",
        )
        loader.add_option(
            "lambda_max_response_body",
            str,
            "7m",
            "Cap on the body of an Invoke response (Lambda's synchronous limit is 6 MB): a "
            "larger answer aborts the call and the client gets a 502 JSON error.",
        )
        register_lambda_view()

    def configure(self, updated: set[str]) -> None:
        if "lambda_body_buffer_size" in updated:
            self.body_buffer_size = _size_option(
                "lambda_body_buffer_size",
                ctx.options.lambda_body_buffer_size,
                self.body_buffer_size,
            )
        if "lambda_max_request_body" in updated:
            self.max_request_body = _size_option(
                "lambda_max_request_body",
                ctx.options.lambda_max_request_body,
                self.max_request_body,
            )
        if "lambda_max_response_body" in updated:
            self.max_response_body = _size_option(
                "lambda_max_response_body",
                ctx.options.lambda_max_response_body,
                self.max_response_body,
            )
        if "stream_large_bodies" in updated:
            try:
                self._stream_large_bodies = human.parse_size(ctx.options.stream_large_bodies)
            except ValueError:  # mitmproxy reports its own option
                self._stream_large_bodies = None
        if "lambda_config" in updated:
            self._load_from_option(ctx.options.lambda_config)
        if updated & {"ssl_insecure", "lambda_max_response_body"} or self.client is None:
            self._replace_client(verify_tls=not ctx.options.ssl_insecure)
        if self.router is not None and updated & {
            "lambda_config",
            "connection_strategy",
            "mode",
            "keep_host_header",
        }:
            self._fit_proxy_options()

    def _load_from_option(self, path: str | None) -> None:
        if not path:
            if self.config is not None:
                logger.info("lambda_config unset: lambda-route is idle")
            self.config, self.router, self._config_stamp = None, None, None
            return
        stamp = file_state(path)
        try:
            config = load_config(path)
        except ConfigError as err:
            self._config_stamp = stamp  # the watcher reports a file once, not every second
            self._report_failed_load(err)
            return
        self._install(config, stamp)

    def _install(self, config: LambdaRouteConfig, stamp: FileState | None) -> None:
        self.config = config
        self.router = Router(config.routes)
        self._config_stamp = stamp
        routed = sum(1 for route in config.routes if route.lambda_plugin is not None)
        logger.info(
            f"lambda-route: loaded {config.source}: {routed} of {len(config.routes)} "
            "routes go to Lambda"
        )
        for warning in config.warnings:  # once per distinct set, not on every reload
            if warning not in self._logged_warnings:
                logger.warning(warning)
        self._logged_warnings = frozenset(config.warnings)

    def _report_failed_load(self, err: ConfigError) -> None:
        if self.config is not None:
            logger.error(f"{err} (keeping the last good config)")
        else:
            logger.error(str(err))

    def _replace_client(self, *, verify_tls: bool) -> None:
        old = self.client
        self.client = LambdaClient(verify_tls=verify_tls, max_response_body=self.max_response_body)
        self.stream_client = LambdaStreamClient(targets=self.client.targets)
        if old is not None:
            self._spawn(old.close())

    def _fit_proxy_options(self) -> None:
        """Change the mitmproxy defaults that would fail or mis-route a routed flow."""
        if ctx.options.connection_strategy == "eager":
            logger.info(
                "lambda-route: setting connection_strategy=lazy, so that routed flows do "
                "not need a reachable origin (eager connects before any hook runs)"
            )
            ctx.options.update(connection_strategy="lazy")
        reverse = any(
            isinstance(mode_specs.ProxyMode.parse(spec), mode_specs.ReverseMode)
            for spec in ctx.options.mode
        )
        if reverse and not ctx.options.keep_host_header:
            logger.info(
                "lambda-route: setting keep_host_header, so that routes match the client's "
                "Host in reverse mode; unrouted flows still get the reverse target's Host"
            )
            self._restores_host_header = True
            ctx.options.update(keep_host_header=True)

    # --- life cycle ---

    def running(self) -> None:
        """Not a coroutine: mitmproxy calls ``running`` synchronously when the script is
        (re)loaded into a running proxy. A flow that comes before the intake endpoint
        listens waits for it (``_send_to_intake``).

        What start-up made (mitmproxy, its addons, the config) lives as long as the proxy:
        ``gc.freeze`` takes it out of the collector's full passes, which otherwise walk it
        (~50 ms under mitmdump) as often on a busy proxy as flows fill the generations.
        Objects are still freed by reference counting; only cycles made before this stay."""
        gc.freeze()
        self._spawn(self._watch_config())
        self.intake.bind()  # the port now; it accepts once the loop runs start()
        self._spawn(self.intake.start())

    def done(self) -> None:
        self.intake.close()
        for task in list(self._tasks):
            task.cancel()
        if self.client is not None:
            self._spawn(self.client.close())
            self.client = None
            self.stream_client = None

    def _spawn(self, coro: Any) -> None:
        try:
            task = asyncio.get_running_loop().create_task(coro)
        except RuntimeError:  # no loop (e.g. configure in a unit test): nothing to run on
            coro.close()
            return
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @command.command("lambda.reload")
    def reload(self) -> None:
        """Reload lambda_config now."""
        self._load_from_option(ctx.options.lambda_config)

    @command.command("lambda.routes")
    def routes(self) -> Sequence[str]:
        """The loaded routes: what each matches and the function it calls."""
        if self.config is None:
            return ["lambda-route is idle: lambda_config is unset or failed to load"]
        return describe_routes(self.config)

    async def _watch_config(self) -> None:
        """Reload lambda_config once a change has settled (see config_watch)."""
        tracker = SettleTracker()
        while True:
            await asyncio.sleep(SETTLE_SECONDS)
            path = ctx.options.lambda_config
            if not path:
                continue
            state = await asyncio.to_thread(file_state, path)
            if state is None or state == self._config_stamp or not tracker.settled(state):
                continue
            config: LambdaRouteConfig | None = None
            error: ConfigError | None = None
            try:
                config = await asyncio.to_thread(load_config, path)
            except ConfigError as err:
                error = err
            if await asyncio.to_thread(file_state, path) != state:
                continue  # written to while we read it: wait for it to settle again
            if ctx.options.lambda_config != path:
                continue
            if error is not None:
                self._config_stamp = state  # reported once, not every second
                self._report_failed_load(error)
            elif config is not None:
                self._install(config, state)

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


def _size_option(name: str, value: str, current: int) -> int:
    """A size option's bytes; an invalid value is logged (not raised: an OptionsError at
    start-up prints a traceback) and ``current`` kept."""
    try:
        size = human.parse_size(value)
    except ValueError:
        size = None
    if size is None:
        logger.error(
            f"{name}: invalid size {value!r} (use e.g. 8k or 6m); "
            f"keeping {human.pretty_size(current)}"
        )
        return current
    return size

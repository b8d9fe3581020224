"""The addon's set-up half: its options, loading and watching ``lambda_config``, its
commands and its life cycle (``LambdaRoute``'s base class; the flow hooks are in
``addon``)."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Sequence
from typing import Any

from mitmproxy import command, ctx
from mitmproxy.proxy import mode_specs
from mitmproxy.utils import human

from .config import LambdaRouteConfig, load_config
from .config_watch import SETTLE_SECONDS, FileState, SettleTracker, file_state
from .contentview import register_lambda_view
from .errors import ConfigError
from .intake import IntakeEndpoint
from .invocation import LambdaClient
from .routes_listing import describe_routes
from .routing import Router
from .streaming.invoke import LambdaStreamClient

#: one logger for the whole addon: ``LambdaRoute``'s messages come from both its modules
logger = logging.getLogger("lambdaroute.addon")


class AddonSetup:
    """Options, config and life cycle; ``LambdaRoute.__init__`` sets every attribute."""

    config: LambdaRouteConfig | None
    router: Router | None
    body_buffer_size: int
    max_request_body: int
    max_response_body: int
    client: LambdaClient | None
    #: RESPONSE_STREAM calls, over the Invoke client's pools and credentials
    stream_client: LambdaStreamClient | None
    _config_stamp: FileState | None
    #: we turned keep_host_header on, so we rewrite Host for unrouted reverse flows
    _restores_host_header: bool
    _tasks: set[asyncio.Task[Any]]
    _logged_warnings: frozenset[str]
    #: where routed flows with large or unknown-size bodies are streamed (see detour)
    intake: IntakeEndpoint
    _stream_large_bodies: int | None

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

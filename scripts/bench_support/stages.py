"""Cost per invocation of each stage of lambda-route, measured in-process.

Each stage is imported from ``addon/lambdaroute`` and timed over many iterations with
``time.perf_counter_ns`` (total time / iterations, so the clock's own cost is spread out):

    routing     routing.Router(load_config(bench config).routes).match(...)
    snapshot    snapshot.snapshot_from_flow(tflow, context, scheme=, host=, port=,
                                    request_id=, body_buffer_size=)
    payload     events.build_payload(plugin, request)           (forward_request_* on)
    signing     signing.RequestSigner(...).sign(AwsCredentials("test", "test"), payload)
    transport   invocation.LambdaClient().invoke(plugin, payload) against the local Lambda
                endpoint, one call at a time, minus the signing time; wall time, and
                this process's CPU time alone ("transport, CPU only")
    shaping     responses.shape_response(plugin, result, client_http_version="HTTP/1.1")

and payload, signing and transport again for the big-requests scenario's request (a
text/plain body of ``big_size`` bytes, 20 iterations), where the cost grows with the body.

A stage whose module is not written yet (ImportError, NotImplementedError...) is reported
as "not available yet" with the reason; the others are still measured.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from .environment import ROOT, write_lambda_config
from .scenarios import Settings

#: the stages one small benchmark request goes through (their sum is printed)
SMALL_REQUEST_STAGES = ("routing", "snapshot", "payload", "signing", "transport", "shaping")
#: iterations of the big-body stages (each handles ``big_size`` bytes)
BIG_ITERATIONS = 20
#: what a browser-ish API client sends: the realistic header set for payload building
REQUEST_HEADERS = (
    ("Host", "api.example.com"),
    ("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) bench/1.0"),
    ("Accept", "application/json"),
    ("Accept-Encoding", "gzip, deflate, br"),
    ("Accept-Language", "en-US,en;q=0.9"),
    ("Authorization", "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJiZW5jaCJ9.c2lnbmF0dXJl"),
    ("Content-Type", "application/json"),
    ("Cookie", "session=abc123; theme=dark"),
    ("X-Request-Id", "4f1c2a3b-0000-4000-8000-000000000001"),
    ("X-Forwarded-For", "203.0.113.7"),
)
REQUEST_BODY = b'{"name":"widget","tags":["a","b","c"],"count":3,"nested":{"ok":true}}'
PATH, QUERY = "/bench/items/42", "page=1&size=10&sort=name"
Unavailable = str


def _per_call_us(function: Callable[[], object], iterations: int) -> float:
    function()  # first call outside the clock: caches, lazy imports
    started = time.perf_counter_ns()
    for _ in range(iterations):
        function()
    return (time.perf_counter_ns() - started) / iterations / 1000


def _unavailable(error: BaseException) -> Unavailable:
    return f"stage not available yet: {type(error).__name__}: {error}"


def measure(lambda_port: int, workdir: Path, settings: Settings) -> dict[str, Any]:
    addon_dir = str(ROOT / "addon")
    if addon_dir not in sys.path:
        sys.path.insert(0, addon_dir)
    n = settings.stage_iterations
    costs: dict[str, float | Unavailable] = {}
    context: dict[str, Any] = {"lambda_port": lambda_port}
    config_path = write_lambda_config(workdir, lambda_port)
    for stage in STAGE_FUNCTIONS:
        try:
            costs[stage] = STAGE_FUNCTIONS[stage](context, config_path, n, settings)
        except Exception as error:  # a stage still being written must not stop the others
            costs[stage] = _unavailable(error)
    small = [v for k, v in costs.items() if isinstance(v, float) and k in SMALL_REQUEST_STAGES]
    return {
        "iterations": n,
        "invoke_iterations": settings.invoke_iterations,
        "big_body_bytes": settings.big_size,
        "big_iterations": BIG_ITERATIONS,
        "us_per_invocation": costs,
        "sum_of_measured_us": sum(small),
    }


def _routing(context: dict[str, Any], config_path: Path, n: int, _settings: Settings) -> float:
    from lambdaroute.config import load_config
    from lambdaroute.routing import Router

    config = load_config(str(config_path))
    router = Router(config.routes)

    def match() -> Any:
        return router.match(
            method="POST",
            scheme="http",
            host="api.example.com",
            port=80,
            path=PATH,
            headers=REQUEST_HEADERS,
        )

    found = match()
    if found is None or found.route.lambda_plugin is None:
        raise LookupError("configs/bench.yaml's route did not match the benchmark request")
    context["match"] = found
    context["plugin"] = found.route.lambda_plugin
    return _per_call_us(match, n)


def _plugin(context: dict[str, Any]) -> Any:
    """The bench config's plugin (from the router, else built from the YAML directly)."""
    if "plugin" not in context:
        from lambdaroute.config import LambdaPluginConfig

        from .environment import bench_plugin_config

        context["plugin"] = LambdaPluginConfig(
            **{**bench_plugin_config(), "port": context["lambda_port"]}
        )
    return context["plugin"]


def _snapshot(context: dict[str, Any], _config: Path, n: int, _settings: Settings) -> float:
    from mitmproxy.test import tflow, tutils

    from lambdaroute.snapshot import RouteContext, snapshot_from_flow

    flow = tflow.tflow(
        req=tutils.treq(
            method=b"POST",
            host="api.example.com",
            port=80,
            path=f"{PATH}?{QUERY}".encode(),
            headers=[(k.encode(), v.encode()) for k, v in REQUEST_HEADERS],
            content=REQUEST_BODY,
        )
    )
    route = context["match"].context if "match" in context else RouteContext(upstream_path=PATH)

    def snapshot() -> Any:
        return snapshot_from_flow(
            flow,
            route,
            scheme="http",
            host="api.example.com",
            port=80,
            request_id="0123456789abcdef",
            body_buffer_size=6 * 1024 * 1024,
        )

    context["request"] = snapshot()
    return _per_call_us(snapshot, n)


def _request(context: dict[str, Any]) -> Any:
    if "request" not in context:
        from lambdaroute.snapshot import IncomingRequest, RouteContext

        context["request"] = IncomingRequest(
            method="POST",
            scheme="http",
            host="api.example.com",
            port=80,
            raw_path=PATH,
            raw_query=QUERY,
            http_version="HTTP/1.1",
            headers=REQUEST_HEADERS,
            body=REQUEST_BODY,
            body_too_large=False,
            client_ip="127.0.0.1",
            received_at=time.time(),
            request_id="0123456789abcdef",
            route=RouteContext(route_name="everything", matched_path="/", upstream_path=PATH),
        )
    return context["request"]


def _payload(context: dict[str, Any], _config: Path, n: int, _settings: Settings) -> float:
    from lambdaroute.events import build_payload

    plugin, request = _plugin(context), _request(context)
    built = build_payload(plugin, request)
    context["payload"] = getattr(built, "data", built)
    return _per_call_us(lambda: build_payload(plugin, request), n)


def _signer(plugin: Any) -> Any:
    """The signer invocation.LambdaClient uses for this plugin."""
    from lambdaroute.endpoints import build_endpoint
    from lambdaroute.invocation import invoke_signer

    return invoke_signer(plugin, build_endpoint(plugin, plugin.aws_region, plugin.host))


def _signing(context: dict[str, Any], _config: Path, n: int, _settings: Settings) -> float:
    return _sign_payload(context, "payload", n)


def _sign_payload(context: dict[str, Any], payload_key: str, n: int) -> float:
    from lambdaroute.signing import AwsCredentials

    signer, payload = _signer(_plugin(context)), context.get(payload_key, REQUEST_BODY)
    credentials = AwsCredentials("test", "test")
    cost = _per_call_us(lambda: signer.sign(credentials, payload), n)
    context[f"signing_us:{payload_key}"] = cost
    return cost


def _transport(context: dict[str, Any], _config: Path, _n: int, settings: Settings) -> float:
    return _invoke_payload(context, "payload", settings.invoke_iterations)


def _invoke_payload(context: dict[str, Any], payload_key: str, iterations: int) -> float:
    """Sequential invokes of the stored payload, minus its signing time: the wall time
    (returned; it includes the peer and loopback) and this process's CPU time (stored in
    the context for the ``CPU only`` line: what the round trip costs the proxy)."""
    from lambdaroute.invocation import LambdaClient

    plugin, payload = _plugin(context), context.get(payload_key, REQUEST_BODY)

    async def invoke_many() -> tuple[float, float]:
        client = LambdaClient()
        try:
            context["result"] = await client.invoke(plugin, payload)  # warm: endpoint, pool
            started, started_cpu = time.perf_counter_ns(), time.process_time_ns()
            for _ in range(iterations):
                await client.invoke(plugin, payload)
            wall, cpu = time.perf_counter_ns() - started, time.process_time_ns() - started_cpu
            return wall / iterations / 1000, cpu / iterations / 1000
        finally:
            await client.close()

    wall_us, cpu_us = asyncio.run(invoke_many())
    signing_us = float(context.get(f"signing_us:{payload_key}", 0.0))
    context[f"transport_cpu_us:{payload_key}"] = cpu_us - signing_us
    return wall_us - signing_us


def _transport_cpu(context: dict[str, Any], _config: Path, _n: int, _settings: Settings) -> float:
    cpu_us: float = context["transport_cpu_us:payload"]
    return cpu_us


def _big_payload(context: dict[str, Any], _config: Path, _n: int, settings: Settings) -> float:
    """build_payload for the big-requests scenario's request: a text/plain body of
    ``big_size`` bytes, which forward_request_body puts into the JSON payload."""
    from lambdaroute.events import build_payload

    request = _request(context)
    big = replace(
        request,
        body=b"b" * settings.big_size,
        headers=tuple(
            (name, "text/plain" if name.lower() == "content-type" else value)
            for name, value in request.headers
        ),
    )
    plugin = _plugin(context)
    built = build_payload(plugin, big)
    context["big payload"] = getattr(built, "data", built)
    return _per_call_us(lambda: build_payload(plugin, big), BIG_ITERATIONS)


def _big_signing(context: dict[str, Any], _config: Path, _n: int, _settings: Settings) -> float:
    if "big payload" not in context:
        raise LookupError("needs the big payload stage")
    return _sign_payload(context, "big payload", BIG_ITERATIONS)


def _big_transport(context: dict[str, Any], _config: Path, _n: int, _settings: Settings) -> float:
    if "big payload" not in context:
        raise LookupError("needs the big payload stage")
    result = _invoke_payload(context, "big payload", BIG_ITERATIONS)
    return result


def _shaping(context: dict[str, Any], _config: Path, n: int, _settings: Settings) -> float:
    from lambdaroute.responses import shape_response

    if "result" not in context:
        raise LookupError("needs an InvokeResult from the transport stage")
    plugin, result = _plugin(context), context["result"]
    return _per_call_us(lambda: shape_response(plugin, result, client_http_version="HTTP/1.1"), n)


STAGE_FUNCTIONS: dict[str, Callable[[dict[str, Any], Path, int, Settings], float]] = {
    "routing": _routing,
    "snapshot": _snapshot,
    "payload": _payload,
    "signing": _signing,
    "transport": _transport,
    "transport, CPU only": _transport_cpu,
    "shaping": _shaping,
    "payload, big body": _big_payload,
    "signing, big body": _big_signing,
    "transport, big body": _big_transport,
}


def render(result: dict[str, Any]) -> str:
    lines = [
        f"  {'stage':<20} {'us/invocation':>14}   in-process; {result['iterations']} iterations, "
        f"transport {result['invoke_iterations']} sequential invokes; big body: "
        f"{result['big_body_bytes']} bytes text/plain, {result['big_iterations']} iterations"
    ]
    for stage, cost in result["us_per_invocation"].items():
        shown = f"{cost:>14.1f}" if isinstance(cost, float) else f"{'-':>14}   {cost}"
        lines.append(f"  {stage:<20} {shown}")
    lines.append(f"  {'sum (small request)':<20} {result['sum_of_measured_us']:>14.1f}")
    return "\n".join(lines)

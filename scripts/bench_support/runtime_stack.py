"""Scenario ``runtimes`` (issue 10): the whole stack against plain passthrough of the same
response, with a Python and a Node.js handler, through ``mitmdump -s`` and
``lambda-route --lean``; then direct invokes of the Python handler.

Six proxies, reverse mode, quiet, lazy connections, all answering ``{"ok": true}`` as
``application/json``:

    pass-full / pass-lean   mitmdump / lambda-route --lean passing through to the upstream peer
    py-full / py-lean       the same, every request routed to the local server's Python handler
    node-full / node-lean   the same, to its Node.js handler

(API Gateway v1 events, proxy integration; the handlers are bench_support/functions/.) Each
round runs a master's three targets back to back, their order rotating, then the other
master's: a stack and the passthrough it is divided by are measured seconds apart, so the
machine's drift (a shared 2-core VM's speed moves by a third within a minute) weighs less
on a ratio. Ratios are medians of per-round ratios, each stack over the passthrough of its
own master. CPU per request is the proxy's and, for the stacks, the local server's with its
workers.
"""

from __future__ import annotations

import statistics
import urllib.request
from typing import Any

from bench_support import direct
from bench_support.drivers import LoadSpec, drive
from bench_support.procs import Proc, ProcessGroup
from bench_support.scenarios import Settings, check, medians
from bench_support.stacks import (
    BODY,
    copy_functions,
    start_local_lambda,
    start_passthrough,
    start_stack,
    tree_cpu_seconds,
    upstream_body,
)

TARGETS = ("pass-full", "py-full", "node-full", "pass-lean", "py-lean", "node-lean")
POOL_WARMUP = 2.0
"""seconds of load before the rounds: the server starts a worker per concurrent invocation"""
TARGETS_FOR = {"py": 0.9, "node": 0.85}  # the issue: stack / passthrough req/s at least


def measure(group: ProcessGroup, settings: Settings) -> dict[str, Any]:
    functions = copy_functions(group.workdir)
    upstream = group.start_peer("rt-upstream", "upstream", upstream_body(group.workdir))
    local = start_local_lambda(group, functions / "functions.yaml", "rt-local-lambda")
    proxies: dict[str, Proc] = {}
    for master in ("full", "lean"):
        proxies[f"pass-{master}"] = start_passthrough(
            group, f"pass-{master}", master, upstream.port
        )
        for function in ("py", "node"):
            name = f"{function}-{master}"
            proxies[name] = start_stack(group, name, master, function, local.port, upstream.port)
    for proc in proxies.values():
        group.wait_listening(proc)
    failures = {name: why for name, proc in proxies.items() if (why := _probe(proc))}
    targets = [t for t in TARGETS if t not in failures]
    own = [upstream.pid, local.pid, *(p.pid for p in proxies.values())]
    for target in targets:  # fill the worker pools: one worker per concurrent invocation
        warm = LoadSpec(proxies[target].port, settings.throughput_connections, POOL_WARMUP, 0)
        drive(warm, "asyncio")
    runs: dict[str, list[dict[str, Any]]] = {t: [] for t in targets}
    for round_index in range(settings.rounds):
        for master in ("full", "lean"):
            trio = [t for t in targets if t.endswith(master)]
            shift = round_index % len(trio) if trio else 0
            for target in trio[shift:] + trio[:shift]:
                runs[target].append(_run(proxies[target], local, settings, own, target))
    ratios = {
        f"{function}-{master}/pass-{master}": _ratio(runs, f"{function}-{master}", f"pass-{master}")
        for master in ("full", "lean")
        for function in ("py", "node")
    }
    checks = [
        check(
            f"{name} req/s >= {TARGETS_FOR[name[: name.index('-')]]}",
            value,
            TARGETS_FOR[name[: name.index("-")]],
            at_least=True,
        )
        for name, value in ratios.items()
    ]
    invokes = 200 if settings.rounds <= 2 else 2000
    sequential = [direct.sequential(local.port, f, invokes, local.pid) for f in ("py", "py-short")]
    rate = direct.rate(
        local.port, "py", group.workdir, settings.latency_duration, local.pid, "asyncio"
    )
    checks.append(
        check("direct invoke p50 ms <= 1 (py)", sequential[0]["p50_ms"], 1.0, at_least=False)
    )
    return {
        "generator": settings.generator,
        "connections": settings.throughput_connections,
        "rounds": settings.rounds,
        "duration_s": settings.throughput_duration,
        "targets": {t: _summary(r) for t, r in runs.items()},
        "not_measured": failures,
        "ratios": ratios,
        "direct": {"sequential": sequential, "rate": rate},
        "checks": checks,
    }


def _probe(proc: Proc) -> str | None:
    """None when the proxy answers the benchmark's bytes, else what went wrong."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{proc.port}/bench/probe", timeout=20) as r:
            body = r.read()
    except OSError as exc:
        return f"probe failed: {exc}\n{proc.log_tail()}"
    return None if body == BODY else f"probe answered {body[:200]!r}"


def _run(
    proxy: Proc, local: Proc, settings: Settings, own: list[int], target: str
) -> dict[str, Any]:
    spec = LoadSpec(
        proxy.port,
        settings.throughput_connections,
        settings.throughput_duration,
        warmup=settings.warmup,
        path="/bench/items",
    )
    stack = not target.startswith("pass")
    before = tree_cpu_seconds([local.pid]) if stack else 0.0
    result = drive(spec, settings.generator, proxy.pid, own)
    if stack and result["requests"]:  # the server's CPU over the whole run, warm-up included
        served = result["requests"] * (1 + settings.warmup / settings.throughput_duration)
        result["server_cpu_us_per_request"] = (
            (tree_cpu_seconds([local.pid]) - before) * 1e6 / served
        )
    return result


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    summary = medians(runs)
    server = [r["server_cpu_us_per_request"] for r in runs if "server_cpu_us_per_request" in r]
    summary["server_cpu_us_per_request"] = statistics.median(server) if server else None
    return summary


def _ratio(runs: dict[str, list[dict[str, Any]]], over: str, under: str) -> float | None:
    pairs = [
        top["rps"] / bottom["rps"]
        for top, bottom in zip(runs.get(over, []), runs.get(under, []), strict=False)
        if top.get("rps") and bottom.get("rps") and not top.get("errors")
    ]
    return round(statistics.median(pairs), 3) if pairs else None


def render(result: dict[str, Any]) -> str:
    lines = [
        f"whole stack vs passthrough ({result['connections']} connections, {result['rounds']} "
        f"rounds of {result['duration_s']:g} s, generator {result['generator']}; CPU: the "
        "proxy's, and the local server's with its workers, per request)",
        f"  {'target':<10} {'req/s':>7} {'p50 ms':>7} {'proxy us/req':>12} "
        f"{'server us/req':>13} {'other load':>10} errors",
    ]
    for target, s in result["targets"].items():
        server = s.get("server_cpu_us_per_request")
        other = s.get("other_load_cpus")
        server_text = "-" if server is None else f"{server:.0f}"
        other_text = "-" if other is None else f"{other:.0%}"
        lines.append(
            f"  {target:<10} {s['rps'] or 0:7.0f} {s['p50_ms'] or 0:7.2f} "
            f"{s['cpu_us_per_request'] or 0:12.0f} {server_text:>13} "
            f"{other_text:>10} {s['errors']}"
        )
    for name, why in result["not_measured"].items():
        lines.append(f"  {name}: NOT MEASURED: {why}")
    lines.append(
        "  ratios (median of per-round req/s ratios): "
        + ", ".join(f"{name} {value}" for name, value in result["ratios"].items())
    )
    for item in result["direct"]["sequential"]:
        lines.append(
            f"  direct invoke, sequential, {item['function']}: p50 {item['p50_ms']:.3f} ms, "
            f"p99 {item['p99_ms']:.3f} ms, server CPU {item['server_cpu_us_per_invoke']:.0f} "
            f"us/invoke (workers included)"
        )
    rate = result["direct"]["rate"]
    lines.append(
        f"  direct invoke rate, {rate['function']}, {rate['connections']} connections: "
        f"{rate['rps'] or 0:.0f} invokes/s, p50 {rate['p50_ms'] or 0:.2f} ms, "
        f"errors {rate['errors']}"
    )
    for item in result["checks"]:
        lines.append(
            f"  [{'met   ' if item['met'] else 'MISSED'}] {item['target']}: "
            f"{item['value']}" + (f"  ({item['miss']})" if item["miss"] else "")
        )
    return "\n".join(lines)

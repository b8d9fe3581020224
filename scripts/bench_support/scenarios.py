"""The benchmark's scenarios. Each drives the targets of an Environment and returns a
JSON-able dict with the numbers, the ratios and the issue's targets checked."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .drivers import LoadSpec, drive
from .environment import TARGETS, Environment
from .procs import memory, reset_peak_rss

MIB = 1024 * 1024
Result = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Settings:
    generator: str
    rounds: int
    warmup: float
    throughput_duration: float
    latency_duration: float
    slow_duration: float
    big_duration: float
    big_size: int
    leak_requests: int
    stage_iterations: int
    invoke_iterations: int
    throughput_connections: int = 32
    slow_connections: int = 200
    slow_delay: float = 1.0
    big_connections: int = 20


def check(label: str, value: float | None, limit: float, *, at_least: bool) -> Result:
    """One target of the issue: met or missed, and by how much."""
    if value is None:
        return {"target": label, "value": None, "met": None, "miss": "not measured"}
    met = value >= limit if at_least else value <= limit
    miss = None
    if not met:
        gap = abs(value - limit)
        miss = f"{'short' if at_least else 'over'} by {gap:.3g}"
        if limit:
            miss += f" ({gap / abs(limit):.0%} of the target)"
    return {"target": label, "value": value, "met": met, "miss": miss}


def alternate(
    env: Environment,
    settings: Settings,
    rounds: int,
    spec_for: Callable[[int], LoadSpec],
    generator: str | None = None,
) -> dict[str, list[Result]]:
    """``rounds`` rounds of A, B, C; the order rotates each round so no target always
    runs first (or right after the same neighbour)."""
    order = [t for t in TARGETS if t in env.targets]
    runs: dict[str, list[Result]] = {t: [] for t in order}
    for round_index in range(rounds):
        shift = round_index % max(1, len(order))
        for target in order[shift:] + order[:shift]:
            proc = env.targets[target]
            spec = spec_for(proc.port)
            runs[target].append(drive(spec, generator or settings.generator, proc.pid, env.pids()))
    return runs


def medians(runs: list[Result]) -> Result:
    def median(key: str) -> float | None:
        values = [r[key] for r in runs if r.get(key) is not None]
        return statistics.median(values) if values else None

    return {
        "rps": median("rps"),
        "p50_ms": median("p50_ms"),
        "p99_ms": median("p99_ms"),
        "cpu_us_per_request": median("cpu_us_per_request"),
        "other_load_cpus": median("other_load_cpus"),
        "max_ms": max((r["max_ms"] for r in runs if r.get("max_ms") is not None), default=None),
        "requests": sum(r["requests"] for r in runs),
        "errors": sum(r["errors"] for r in runs),
        "error_samples": [s for r in runs for s in r.get("error_samples", [])][:5],
        "runs": runs,
    }


def ratio(summary: dict[str, Result], key: str, over: str, under: str) -> float | None:
    """The median over rounds of ``over``'s value / ``under``'s in the same round: a round
    runs A, B and C back to back, so slow drifts in other load on the machine cancel."""
    over_runs, under_runs = (
        summary.get(over, {}).get("runs", []),
        summary.get(under, {}).get("runs", []),
    )
    pairs = zip(over_runs, under_runs, strict=False)  # a target that did not run: no pairs
    ratios = [
        top[key] / bottom[key]
        for top, bottom in pairs
        if top.get(key) is not None and bottom.get(key)
    ]
    return statistics.median(ratios) if ratios else None


def cpu_ratios(summary: dict[str, Result]) -> dict[str, float | None]:
    """mitmdump CPU time per request, C over A and C over B (lower is better)."""
    key = "cpu_us_per_request"
    return {"C/A": ratio(summary, key, "C", "A"), "C/B": ratio(summary, key, "C", "B")}


def throughput(env: Environment, settings: Settings) -> Result:
    connections = settings.throughput_connections
    runs = alternate(
        env,
        settings,
        settings.rounds,
        lambda port: LoadSpec(
            port, connections, settings.throughput_duration, warmup=settings.warmup
        ),
    )
    summary = {t: medians(r) for t, r in runs.items()}
    c_over_a = ratio(summary, "rps", "C", "A")
    c_over_b = ratio(summary, "rps", "C", "B")
    return {
        "generator": settings.generator,
        "connections": connections,
        "rounds": settings.rounds,
        "duration_s": settings.throughput_duration,
        "targets": summary,
        "ratios": {"C/A": c_over_a, "C/B": c_over_b},
        "cpu_ratios": cpu_ratios(summary),
        "checks": [
            check("C/A req/s >= 1.0", c_over_a, 1.0, at_least=True),
            check("C/B req/s >= 0.85", c_over_b, 0.85, at_least=True),
        ],
    }


def latency(env: Environment, settings: Settings) -> Result:
    runs = alternate(
        env,
        settings,
        settings.rounds,
        lambda port: LoadSpec(port, 1, settings.latency_duration, warmup=settings.warmup),
    )
    summary = {t: medians(r) for t, r in runs.items()}
    c_p50, b_p50 = summary.get("C", {}).get("p50_ms"), summary.get("B", {}).get("p50_ms")
    above = c_p50 - b_p50 if c_p50 is not None and b_p50 is not None else None
    return {
        "generator": settings.generator,
        "connections": 1,
        "rounds": settings.rounds,
        "duration_s": settings.latency_duration,
        "targets": summary,
        "ratios": {"C/A": ratio(summary, "rps", "C", "A"), "C/B": ratio(summary, "rps", "C", "B")},
        "cpu_ratios": cpu_ratios(summary),
        "p50_C_minus_B_ms": above,
        "checks": [check("p50(C) - p50(B) <= 0.5 ms", above, 0.5, at_least=False)],
    }


def slow(env: Environment, settings: Settings) -> Result:
    """200 clients against a function that takes ``slow_delay`` s (A's upstream and B's
    answer wait as long): nothing may queue behind a small pool.

    The first round sends all 200 requests at once; the warm-up (1.5 rounds) lets the
    closed loop spread them out before the window opens. asyncio, not wrk: wrk has no
    warm-up inside its measured run and counts that first burst."""

    def spec(port: int) -> LoadSpec:
        return LoadSpec(
            port,
            settings.slow_connections,
            settings.slow_duration,
            warmup=1.5 * settings.slow_delay,
            timeout=settings.slow_delay * 10,
        )

    runs = alternate(env, settings, 1, spec, generator="asyncio")
    for run in (run for target_runs in runs.values() for run in target_runs):
        # Completions in a window of a few 1 s rounds are off by up to a round (200
        # requests); a closed loop's throughput is exactly connections / mean latency.
        run["rps_in_window"] = run["rps"]
        run["rps"] = settings.slow_connections * 1000 / run["mean_ms"] if run["mean_ms"] else 0.0
    summary = {t: medians(r) for t, r in runs.items()}
    c = summary.get("C", {})
    return {
        "generator": "asyncio",
        "req/s": "connections / mean latency (Little's law)",
        "connections": settings.slow_connections,
        "delay_s": settings.slow_delay,
        "duration_s": settings.slow_duration,
        "targets": summary,
        "checks": [
            check("C req/s >= 180", c.get("rps"), 180, at_least=True),
            check("C slowest request <= 1500 ms", c.get("max_ms"), 1500, at_least=False),
            check("C errors == 0", c.get("errors"), 0, at_least=False),
        ],
    }


def big(env: Environment, settings: Settings, *, direction: str) -> Result:
    """``responses``: ``env`` answers big bodies; ``requests``: clients send big bodies
    (forwarded to Lambda, forward_request_body). Peak RSS growth of each mitmdump
    against the bytes in flight (connections x payload)."""
    size, connections = settings.big_size, settings.big_connections
    sending = direction == "requests"
    targets: dict[str, Result] = {}
    for target, proc in env.targets.items():
        before = memory(proc.pid)
        peak_was_reset = reset_peak_rss(proc.pid)
        result = drive(
            LoadSpec(
                proc.port,
                connections,
                settings.big_duration,
                warmup=settings.warmup,
                method="POST" if sending else "GET",
                body_size=size if sending else 0,
                expect_size=len(env.body),
                timeout=60,
            ),
            settings.generator,
            proc.pid,
            env.pids(),
        )
        after = memory(proc.pid)
        growth = (after.peak_rss_kib - before.rss_kib) * 1024
        in_flight = connections * size
        targets[target] = {
            **medians([result]),
            "rss_before_kib": before.rss_kib,
            "peak_rss_kib": after.peak_rss_kib,
            "peak_growth_bytes": growth,
            "bytes_in_flight": in_flight,
            "growth_per_byte": growth / in_flight,
            "peak_was_reset": peak_was_reset,
        }
    c = targets.get("C", {})
    return {
        "generator": "asyncio",
        "direction": direction,
        "payload_bytes": size,
        "connections": connections,
        "duration_s": settings.big_duration,
        "targets": targets,
        "checks": [
            check(f"C big {direction}: errors == 0", c.get("errors"), 0, at_least=False),
            check(
                f"C big {direction}: peak RSS growth <= 3x bytes in flight",
                c.get("growth_per_byte"),
                3.0,
                at_least=False,
            ),
        ],
    }


def leak(env: Environment, settings: Settings) -> Result:
    """RSS and open fds after 10% of the requests and after all of them."""
    total = settings.leak_requests
    first = max(1, total // 10)
    targets: dict[str, Result] = {}
    for target, proc in env.targets.items():
        spec = LoadSpec(proc.port, settings.throughput_connections, requests=first, warmup=0)
        early_run = drive(spec, "asyncio")
        time.sleep(1.0)
        early = memory(proc.pid)
        late_run = drive(
            LoadSpec(proc.port, settings.throughput_connections, requests=total - first, warmup=0),
            "asyncio",
        )
        time.sleep(1.0)
        late = memory(proc.pid)
        targets[target] = {
            "requests": [first, total],
            "rss_kib": [early.rss_kib, late.rss_kib],
            "open_fds": [early.open_fds, late.open_fds],
            "rss_growth": late.rss_kib / early.rss_kib - 1,
            "fd_growth": late.open_fds / early.open_fds - 1,
            "errors": early_run["errors"] + late_run["errors"],
            "rps": late_run["rps"],
        }
    c = targets.get("C", {})
    return {
        "generator": "asyncio",
        "requests": total,
        "targets": targets,
        "checks": [
            check(
                f"C RSS after {total} within 10% of after {first}",
                c.get("rss_growth"),
                0.10,
                at_least=False,
            ),
            check(
                f"C open fds after {total} within 10% of after {first}",
                c.get("fd_growth"),
                0.10,
                at_least=False,
            ),
        ],
    }

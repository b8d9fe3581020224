"""``bench.py --profile``: C under cProfile at 32 connections; where lambdaroute's time goes.

cProfile slows every Python call, so these numbers are for finding the next bottleneck,
not for the throughput table. Coroutines count one call per resumption.
"""

from __future__ import annotations

import pstats
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .drivers import LoadSpec, drive
from .environment import Environment, small_body, start_environment
from .procs import ProcessGroup
from .scenarios import Settings

TOP = 25
PACKAGE_MARKER = "/lambdaroute/"


def profile_c(
    workdir: Path, settings: Settings, note_failures: Callable[[Environment], None]
) -> dict[str, Any]:
    out = workdir / "c.prof"
    with ProcessGroup(workdir) as group:
        env = start_environment(
            group, targets=["C"], body=small_body(), label="profile", profile_out=out
        )
        note_failures(env)
        if "C" not in env.targets:
            return {"error": env.failures.get("C", "C did not start")}
        load = drive(
            LoadSpec(
                env.targets["C"].port,
                settings.throughput_connections,
                max(settings.throughput_duration, 3.0),
                warmup=settings.warmup,
            ),
            "asyncio",
        )
        group.stop(env.targets["C"])
    if not out.exists():
        return {"error": "mitmdump wrote no profile (did it run its done hooks?)"}
    return summarize(pstats.Stats(str(out)), load)


def summarize(stats: pstats.Stats, load: dict[str, Any]) -> dict[str, Any]:
    table: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    flows = 0
    own_us = total_us = 0.0
    rows = []
    for (filename, line, function), (
        _primitive,
        calls,
        tottime,
        cumtime,
        _callers,
    ) in table.items():
        total_us += tottime * 1e6
        if PACKAGE_MARKER not in filename:
            continue
        own_us += tottime * 1e6
        module = filename.rsplit(PACKAGE_MARKER, 1)[1]
        if module == "addon.py" and function == "requestheaders":
            flows = calls
        rows.append(
            {
                "function": f"{module}:{line}({function})",
                "calls": calls,
                "tottime_s": tottime,
                "cumtime_s": cumtime,
            }
        )
    flows = flows or load["requests"]
    rows.sort(key=lambda row: row["cumtime_s"], reverse=True)
    for row in rows:
        row["cum_us_per_flow"] = row["cumtime_s"] * 1e6 / flows if flows else None
        row["own_us_per_flow"] = row["tottime_s"] * 1e6 / flows if flows else None
    return {
        "flows": flows,
        "rps_under_profile": load["rps"],
        "process_cpu_us_per_flow": total_us / flows if flows else None,
        "lambdaroute_own_us_per_flow": own_us / flows if flows else None,
        "top": rows[:TOP],
    }


def render(result: dict[str, Any]) -> str:
    if "error" in result:
        return f"  profile not available: {result['error']}"
    lines = [
        f"  {result['flows']} flows profiled ({result['rps_under_profile']:.0f} req/s under "
        f"cProfile); process CPU {result['process_cpu_us_per_flow']:.0f} us/flow, of which "
        f"lambdaroute's own code {result['lambdaroute_own_us_per_flow']:.0f} us/flow",
        f"  {'cum us/flow':>11} {'own us/flow':>11} {'calls':>8}  "
        f"function (top {TOP} by cumulative time)",
    ]
    for row in result["top"]:
        lines.append(
            f"  {row['cum_us_per_flow']:>11.1f} {row['own_us_per_flow']:>11.1f} "
            f"{row['calls']:>8}  {row['function']}"
        )
    return "\n".join(lines)

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
TOP_ANYWHERE = 15
#: the event loop waiting for I/O: not work
IDLE = "of 'select.epoll' objects"
PACKAGE_MARKER = "/lambdaroute/"


def profile_c(
    workdir: Path,
    settings: Settings,
    note_failures: Callable[[Environment], None],
    out: Path,
) -> dict[str, Any]:
    """Profile C for a throughput run; the raw stats stay in ``out`` (pstats format)."""
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
    rows, everything = [], []
    for (filename, line, function), (_, calls, tottime, cumtime, _) in table.items():
        if IDLE in function:
            continue
        module = filename.rsplit(PACKAGE_MARKER, 1)[1] if PACKAGE_MARKER in filename else None
        name = f"{module or filename.rsplit('site-packages/', 1)[-1]}:{line}({function})"
        row = {"function": name, "calls": calls, "tottime_s": tottime, "cumtime_s": cumtime}
        everything.append(row)
        if module is not None:
            rows.append(row)
            if module == "addon.py" and function == "requestheaders":
                flows = calls
    flows = flows or load["requests"]
    for row in everything:
        row["cum_us_per_flow"] = row["cumtime_s"] * 1e6 / flows if flows else None
        row["own_us_per_flow"] = row["tottime_s"] * 1e6 / flows if flows else None
    busy_s = sum(row["tottime_s"] for row in everything)
    own_s = sum(row["tottime_s"] for row in rows)
    return {
        "flows": flows,
        "rps_under_profile": load["rps"],
        "busy_us_per_flow": busy_s * 1e6 / flows if flows else None,
        "lambdaroute_own_us_per_flow": own_s * 1e6 / flows if flows else None,
        "top": sorted(rows, key=lambda row: row["cumtime_s"], reverse=True)[:TOP],
        "top_own_time_anywhere": sorted(everything, key=lambda row: row["tottime_s"], reverse=True)[
            :TOP_ANYWHERE
        ],
    }


def render(result: dict[str, Any]) -> str:
    if "error" in result:
        return f"  profile not available: {result['error']}"
    lines = [
        f"  {result['flows']} flows profiled ({result['rps_under_profile']:.0f} req/s under "
        f"cProfile, which inflates every call); busy {result['busy_us_per_flow']:.0f} us/flow, "
        f"of which lambdaroute's own code {result['lambdaroute_own_us_per_flow']:.0f} us/flow",
        *_table(f"lambdaroute, top {TOP} by cumulative time", result["top"]),
        *_table(f"whole process, top {TOP_ANYWHERE} by own time", result["top_own_time_anywhere"]),
    ]
    return "\n".join(lines)


def _table(title: str, rows: list[dict[str, Any]]) -> list[str]:
    lines = [f"  {'cum us/flow':>11} {'own us/flow':>11} {'calls':>8}  {title}"]
    for row in rows:
        lines.append(
            f"  {row['cum_us_per_flow']:>11.1f} {row['own_us_per_flow']:>11.1f} "
            f"{row['calls']:>8}  {row['function']}"
        )
    return lines

"""``bench.py --profile``: B and C under cProfile at 32 connections; where lambdaroute's
time goes, and which functions C spends more time in than B (mitmproxy's ceiling).

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
TOP_DIFF = 15
#: the event loop waiting for I/O: not work
IDLE = "of 'select.epoll' objects"
PACKAGE_MARKER = "/lambdaroute/"


def profile(
    workdir: Path,
    settings: Settings,
    note_failures: Callable[[Environment], None],
    out_dir: Path,
    addon_shim: Path,
) -> dict[str, Any]:
    """Profile B and C, one throughput run each; the raw stats stay in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with ProcessGroup(workdir) as group:
        env = start_environment(
            group,
            targets=["B", "C"],
            body=small_body(),
            label="profile",
            profile_dir=out_dir,
            addon_shim=addon_shim,
        )
        note_failures(env)
        if "C" not in env.targets:
            return {"error": env.failures.get("C", "C did not start")}
        loads = {}
        for target, proc in list(env.targets.items()):
            spec = LoadSpec(
                proc.port,
                settings.throughput_connections,
                max(settings.throughput_duration, 3.0),
                warmup=settings.warmup,
            )
            loads[target] = drive(spec, "asyncio")
            group.stop(proc)
    profiled, baseline = _load(out_dir / "C.prof"), _load(out_dir / "B.prof")
    if profiled is None:
        return {"error": "mitmdump wrote no profile (did it run its done hooks?)"}
    stats, flows = profiled
    result = summarize(stats, flows, loads["C"])
    if baseline is not None:
        result["more_than_B"] = more_than(profiled, baseline)
    result["stats_files"] = str(out_dir)
    return result


def _load(path: Path) -> tuple[pstats.Stats, int] | None:
    flows_file = Path(f"{path}.flows")
    if not path.exists() or not flows_file.exists():
        return None
    return pstats.Stats(str(path)), int(flows_file.read_text())


def _name(filename: str, line: int, function: str) -> str:
    if PACKAGE_MARKER in filename:
        filename = filename.rsplit(PACKAGE_MARKER, 1)[1]
    return f"{filename.rsplit('site-packages/', 1)[-1]}:{line}({function})"


def more_than(
    profiled: tuple[pstats.Stats, int], baseline: tuple[pstats.Stats, int]
) -> list[dict[str, Any]]:
    """The functions whose own time per flow grew most from ``baseline`` (B) to
    ``profiled`` (C): where C's extra cost per request goes, lambdaroute or not."""
    (stats, flows), (base_stats, base_flows) = profiled, baseline
    own: dict[str, float] = {}
    for (filename, line, function), (_, _, tottime, _, _) in _table(stats).items():
        own[_name(filename, line, function)] = tottime * 1e6 / flows
    for (filename, line, function), (_, _, tottime, _, _) in _table(base_stats).items():
        name = _name(filename, line, function)
        own[name] = own.get(name, 0.0) - tottime * 1e6 / base_flows
    grown = sorted(
        ((name, us) for name, us in own.items() if IDLE not in name),
        key=lambda item: item[1],
        reverse=True,
    )
    return [{"function": name, "extra_own_us_per_flow": us} for name, us in grown[:TOP_DIFF]]


def _table(stats: pstats.Stats) -> dict[Any, Any]:
    table: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    return table


def summarize(stats: pstats.Stats, flows: int, load: dict[str, Any]) -> dict[str, Any]:
    rows, everything = [], []
    for (filename, line, function), (_, calls, tottime, cumtime, _) in _table(stats).items():
        if IDLE in function:
            continue
        row = {
            "function": _name(filename, line, function),
            "calls": calls,
            "tottime_s": tottime,
            "cumtime_s": cumtime,
        }
        everything.append(row)
        if PACKAGE_MARKER in filename:
            rows.append(row)
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
        f"of which lambdaroute's own code {result['lambdaroute_own_us_per_flow']:.0f} us/flow; "
        f"raw stats: {result['stats_files']}",
        *_rows(f"lambdaroute, top {TOP} by cumulative time", result["top"]),
        *_rows(f"whole process, top {TOP_ANYWHERE} by own time", result["top_own_time_anywhere"]),
    ]
    if result.get("more_than_B"):
        lines.append(f"  {'C - B own us/flow':>23}  where C's extra time goes, top {TOP_DIFF}")
        for row in result["more_than_B"]:
            lines.append(f"  {row['extra_own_us_per_flow']:>23.1f}  {row['function']}")
    return "\n".join(lines)


def _rows(title: str, rows: list[dict[str, Any]]) -> list[str]:
    lines = [f"  {'cum us/flow':>11} {'own us/flow':>11} {'calls':>8}  {title}"]
    for row in rows:
        lines.append(
            f"  {row['cum_us_per_flow']:>11.1f} {row['own_us_per_flow']:>11.1f} "
            f"{row['calls']:>8}  {row['function']}"
        )
    return lines

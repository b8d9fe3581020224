"""Printing the benchmark's results as plain-text tables."""

from __future__ import annotations

from typing import Any

from .environment import TARGETS

MB = 1_000_000


def _number(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _percent(cpus: float | None) -> str:
    """CPUs busy with other work, as a percentage of one CPU."""
    return "-" if cpus is None else f"{cpus:.0%}"


def machine_line(machine: dict[str, Any]) -> str:
    return (
        f"machine: {machine['cpus']} CPUs ({machine['cpu_model']}), {machine['kernel']}, "
        f"Python {machine['python']}, mitmproxy {machine['mitmproxy']}, "
        f"lambda-route {machine['lambdaroute']}, "
        f"load average {machine['loadavg']} at start; load generator: {machine['generator']}\n"
        "CPU us/req: the target mitmdump's CPU time per request in the measured window; "
        "other load: CPU used meanwhile by processes that are not the benchmark's, "
        "in % of one CPU"
    )


def scenario(name: str, result: dict[str, Any]) -> str:
    lines = [
        f"\n== {name} "
        + " ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
            for k, v in result.items()
            if isinstance(v, (int, float, str))
        )
    ]
    targets: dict[str, dict[str, Any]] = result.get("targets", {})
    if name == "leak":
        lines.append(
            f"  {'target':<20} {'RSS KiB (10% -> 100%)':>24} {'open fds':>12} "
            f"{'RSS growth':>10} {'req/s':>8} {'errors':>7}"
        )
        for target, row in targets.items():
            lines.append(
                f"  {target + ' ' + TARGETS[target]:<20} "
                f"{row['rss_kib'][0]:>11} -> {row['rss_kib'][1]:<9} "
                f"{row['open_fds'][0]:>5} -> {row['open_fds'][1]:<4} "
                f"{row['rss_growth']:>+10.1%} {row['rps']:>8.0f} {row['errors']:>7}"
            )
    else:
        big = name.startswith("big")
        header = (
            f"  {'target':<20} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
            f"{'errors':>7} {'CPU us/req':>10} {'other load':>10}"
        )
        if big:
            header += f" {'peak RSS +MB':>12} {'x in flight':>11}"
        lines.append(header)
        for target, row in targets.items():
            line = (
                f"  {target + ' ' + TARGETS[target]:<20} {_number(row['rps'], 0):>8} "
                f"{_number(row['p50_ms'], 3):>8} {_number(row['p99_ms'], 3):>8} "
                f"{_number(row['max_ms'], 1):>8} {row['errors']:>7} "
                f"{_number(row.get('cpu_us_per_request'), 0):>10} "
                f"{_percent(row.get('other_load_cpus')):>10}"
            )
            if big:
                line += f" {row['peak_growth_bytes'] / MB:>12.1f} {row['growth_per_byte']:>11.2f}"
            lines.append(line)
            if row.get("error_samples"):
                lines.append(f"      errors, e.g.: {'; '.join(row['error_samples'][:3])}")
    ratios = {k: v for k, v in result.get("ratios", {}).items() if v is not None}
    if ratios:
        lines.append(
            "  "
            + "   ".join(f"{k} req/s = {v:.3f}" for k, v in ratios.items())
            + "  (median of the per-round ratios)"
        )
    cpu = {k: v for k, v in result.get("cpu_ratios", {}).items() if v is not None}
    if cpu:
        lines.append(
            "  mitmdump CPU per request: "
            + "   ".join(f"{k} = {v:.3f}" for k, v in cpu.items())
            + "  (lower is better; less sensitive than req/s to other load)"
        )
    for item in result.get("checks", []):
        status = {True: "met   ", False: "MISSED", None: " n/a  "}[item["met"]]
        value = _number(item["value"], 3)
        miss = f"  ({item['miss']})" if item["miss"] else ""
        lines.append(f"  [{status}] {item['target']}: {value}{miss}")
    return "\n".join(lines)


def failures(failed: dict[str, str]) -> str:
    lines = []
    for target, why in failed.items():
        lines.append(f"  target {target} ({TARGETS[target]}) not measured: {why}")
    return "\n".join(lines)

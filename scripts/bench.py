#!/usr/bin/env python3
"""Benchmark for issue 5: does a Lambda route cost no more than proxying?

Starts on 127.0.0.1 a minimal Lambda Invoke endpoint, a plain HTTP upstream (both answer
the same fixed JSON) and three ``mitmdump --mode reverse:...`` targets:

    A  passthrough to the upstream
    B  a trivial addon that synthesizes the same response with no I/O (mitmproxy's ceiling)
    C  lambda-route (addon/lambda_route.py) routing every request to the Lambda endpoint,
       with configs/bench.yaml (forward_request_method/uri/headers/body on)

and drives them with a bounded load (wrk if installed, else scripts/bench_support/loadgen.py),
alternating A/B/C in each round. Prints req/s, p50/p99 latency, each mitmdump's CPU time
per request, the CPU other processes used meanwhile, the ratios C/A and C/B (medians of
the per-round ratios) and whether each target of the issue is met. Scenarios: throughput
(32 connections), latency (1), slow (200 clients, 1 s function), big (4 MB bodies both
ways, peak RSS), leak (RSS and fds after 10,000 and 100,000 requests), stages (cost of
each lambdaroute stage, in-process), runtimes (the whole stack with the local server's
Python and Node.js handlers against passthrough, mitmdump and --lean; direct invokes),
offline (against serverless-offline), streaming (time to first byte of a response
stream through the proxy against the local server directly, RSS relaying 100 MiB;
needs node), and --profile (C under cProfile).

    .venv/bin/python scripts/bench.py                 # everything but the long leak run
    .venv/bin/python scripts/bench.py --quick         # under a minute
    .venv/bin/python scripts/bench.py --scenario leak # 100,000 requests through C
    .venv/bin/python scripts/bench.py --profile       # + where C's CPU time goes (cProfile)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from importlib.metadata import version
from pathlib import Path
from typing import Any

from bench_support import (
    lean_core,
    offline,
    profiling,
    reliability,
    report,
    runtime_stack,
    scenarios,
    stages,
)
from bench_support import streaming as streaming_bench
from bench_support.drivers import available_generator
from bench_support.environment import (
    ADDON_SHIM,
    ROOT,
    TARGETS,
    Environment,
    sized_body,
    small_body,
    start_environment,
)
from bench_support.procs import ProcessGroup
from bench_support.scenarios import MIB, Settings

ALL_SCENARIOS = (
    "throughput",
    "latency",
    "slow",
    "big",
    "leak",
    "stages",
    "hugebodies",
    "soak",
    "lean",
    "runtimes",
    "offline",
    "streaming",
)
DEFAULT_SCENARIOS = ("throughput", "latency", "slow", "big", "stages")
QUICK_SCENARIOS = ("throughput", "latency", "slow", "big")
RENDERERS = {
    "stages": stages.render,
    "profile": profiling.render,
    "lean": lean_core.render,
    "runtimes": runtime_stack.render,
    "offline": offline.render,
    "streaming": streaming_bench.render,
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="short runs of throughput, latency, slow and big (< 60 s)",
    )
    parser.add_argument(
        "--scenario",
        default=None,
        help=f"comma-separated, from {','.join(ALL_SCENARIOS)} "
        f"(default: all but leak; --quick: {','.join(QUICK_SCENARIOS)})",
    )
    parser.add_argument("--targets", default="A,B,C", help="which of A,B,C to run")
    parser.add_argument(
        "--addon",
        type=Path,
        default=ADDON_SHIM,
        help="the -s script of C (default addon/lambda_route.py; e.g. an older version's "
        "copy from `git archive`, to compare)",
    )
    parser.add_argument(
        "--loadgen",
        choices=("auto", "wrk", "asyncio"),
        default="auto",
        help="auto: wrk when installed, else the asyncio generator",
    )
    parser.add_argument("--rounds", type=int, help="rounds of A/B/C (default 5, quick 2)")
    parser.add_argument(
        "--duration", type=float, help="seconds per measured run, all scenarios (smoke tests)"
    )
    parser.add_argument("--leak-requests", type=int, default=100_000)
    parser.add_argument(
        "--leak-targets", default="C", help="targets of the leak scenario (default C; it is long)"
    )
    parser.add_argument("--big-size", type=int, help="bytes per big payload (default 4 MiB)")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also run B and C under cProfile: lambdaroute's top functions, C's extra cost",
    )
    parser.add_argument(
        "--profile-dir",
        type=Path,
        help="--profile, and keep the raw stats there: B.prof, C.prof (python -m pstats FILE)",
    )
    parser.add_argument(
        "--sls-dir",
        type=Path,
        help="offline: install serverless + serverless-offline there and keep them "
        "(default: a temporary directory, installed on every run)",
    )
    parser.add_argument("--json", type=Path, help="also write all results to this file")
    return parser.parse_args(argv)


def settings_from(args: argparse.Namespace, generator: str) -> Settings:
    quick = args.quick
    duration = args.duration
    return Settings(
        generator=generator,
        rounds=args.rounds or (2 if quick else 5),
        warmup=0.3 if quick or duration else 1.0,
        throughput_duration=duration or (1.0 if quick else 10.0),
        latency_duration=duration or (1.0 if quick else 5.0),
        slow_duration=max(duration or 0, 2.0) if (duration or quick) else 10.0,
        big_duration=duration or (1.0 if quick else 5.0),
        big_size=args.big_size or (MIB if quick else 4 * MIB),
        leak_requests=args.leak_requests,
        stage_iterations=2_000 if quick else 20_000,
        invoke_iterations=200 if quick else 2_000,
    )


def machine(generator: str) -> dict[str, Any]:
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "kernel": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "mitmproxy": version("mitmproxy"),
        "loadavg": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "lambdaroute": addon_revision(),
        "generator": generator,
    }


def addon_revision() -> str:
    """The commit the addon under test is at, and whether addon/ has uncommitted changes."""

    def git(*argv: str) -> str:
        done = subprocess.run(["git", *argv], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown commit"
    dirty = git("status", "--porcelain", "--", "addon")
    return f"{commit} + uncommitted changes in addon/" if dirty else commit


class Run:
    """Collects results, prints each scenario as it completes."""

    def __init__(self, targets: list[str], addon_shim: Path) -> None:
        self.targets = targets
        self.addon_shim = addon_shim
        self.results: dict[str, Any] = {}
        self.not_measured: dict[str, str] = {}

    def record(self, name: str, result: dict[str, Any]) -> None:
        self.results[name] = result
        renderer = RENDERERS.get(name)
        text = f"\n== {name}\n{renderer(result)}" if renderer else report.scenario(name, result)
        print(text, flush=True)

    def note_failures(self, env: Environment) -> None:
        new = {t: why for t, why in env.failures.items() if t not in self.not_measured}
        if new:
            print(report.failures(new), flush=True)
        self.not_measured.update(new)

    def environment(
        self,
        group: ProcessGroup,
        label: str,
        body: bytes,
        delay: float = 0.0,
        targets: list[str] | None = None,
    ) -> Environment:
        env = start_environment(
            group,
            targets=self.targets if targets is None else targets,
            body=body,
            delay=delay,
            label=label,
            addon_shim=self.addon_shim,
        )
        self.note_failures(env)
        return env


def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    generator = available_generator(args.loadgen)
    settings = settings_from(args, generator)
    chosen = (
        args.scenario.split(",")
        if args.scenario
        else list(QUICK_SCENARIOS if args.quick else DEFAULT_SCENARIOS)
    )
    unknown = set(chosen) - set(ALL_SCENARIOS)
    if unknown:
        raise SystemExit(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    targets = [t for t in TARGETS if t in args.targets.upper().split(",")]
    about = machine(
        generator if generator == "wrk" else "asyncio (scripts/bench_support/loadgen.py)"
    )
    print(report.machine_line(about), flush=True)
    bench = Run(targets, args.addon.resolve())

    if {"throughput", "latency", "big", "stages"} & set(chosen):
        with ProcessGroup(workdir) as group:
            env = bench.environment(group, "small", small_body())
            if "throughput" in chosen:
                bench.record("throughput", scenarios.throughput(env, settings))
            if "latency" in chosen:
                bench.record("latency", scenarios.latency(env, settings))
            if "big" in chosen:
                bench.record("big requests", scenarios.big(env, settings, direction="requests"))
            if "stages" in chosen:
                bench.record("stages", stages.measure(env.lambda_peer.port, workdir, settings))
    if "slow" in chosen:
        with ProcessGroup(workdir) as group:
            env = bench.environment(group, "slow", small_body(), delay=settings.slow_delay)
            bench.record("slow", scenarios.slow(env, settings))
    if "big" in chosen:
        with ProcessGroup(workdir) as group:
            env = bench.environment(group, "big", sized_body(settings.big_size))
            bench.record("big responses", scenarios.big(env, settings, direction="responses"))
    if "leak" in chosen:  # fresh processes: earlier scenarios' memory would hide a leak
        with ProcessGroup(workdir) as group:
            targets = [t for t in bench.targets if t in args.leak_targets.upper().split(",")]
            env = bench.environment(group, "leak", small_body(), targets=targets)
            bench.record("leak", scenarios.leak(env, settings))
    if "hugebodies" in chosen:  # issue 8: 20 clients x 100 MB bodies, peak RSS growth
        bench.record("hugebodies", reliability.hugebodies(workdir))
    if "soak" in chosen:  # issue 8: 100,000 requests, the Lambda server restarted every 20,000
        bench.record("soak", reliability.soak(workdir))
    if "lean" in chosen:  # issue 12: lambda-route --lean against mitmdump, four targets
        with ProcessGroup(workdir) as group:
            bench.record("lean", lean_core.measure(group, settings))
    if "runtimes" in chosen:  # issue 10: whole stack vs passthrough, Python and Node.js
        with ProcessGroup(workdir) as group:
            bench.record("runtimes", runtime_stack.measure(group, settings))
    if "offline" in chosen:  # issues 10 and 12: against serverless-offline
        with ProcessGroup(workdir) as group:
            bench.record("offline", offline.measure(group, settings, args.sls_dir))
    if "streaming" in chosen:  # issue 11: time to first byte, RSS relaying a 100 MiB stream
        bench.record("streaming", streaming_bench.measure(workdir))
    if args.profile or args.profile_dir:
        out_dir = args.profile_dir or workdir / "profiles"
        bench.record(
            "profile",
            profiling.profile(workdir, settings, bench.note_failures, out_dir, args.addon),
        )
    return {
        "machine": about,
        "settings": asdict(settings),
        "scenarios": bench.results,
        "not_measured": bench.not_measured,
    }


def _interrupt(_signum: int, _frame: object) -> None:
    """SIGTERM unwinds like Ctrl-C, so that every started process is stopped."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="lambda-route-bench-") as workdir:
        try:
            results = run(args, Path(workdir))
        except KeyboardInterrupt:
            print("\ninterrupted; every process was stopped", file=sys.stderr)
            return 130
    results["elapsed_s"] = round(time.monotonic() - started, 1)
    print(f"\nfinished in {results['elapsed_s']} s")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 1 if results["not_measured"] else 0


if __name__ == "__main__":
    sys.exit(main())

"""Direct invokes of one Python handler against several versions of the local server,
alternated in one run (issue 10: "the direct invoke rate not below the previous design's").

    .venv/bin/python scripts/bench_support/compare_direct.py [--rounds 2] REV [REV ...]

Each REV's ``addon/`` is taken with ``git archive`` into a temporary directory and run with
``PYTHONPATH`` pointing at it; the working tree's own ``addon/`` runs as "this tree". The
handler is bench_support/functions/handler.py in the short form (every version reads it).
Per version and round: p50/p99 of 1,000 sequential invokes (raw client, one keep-alive
connection), the server's CPU per invoke with its worker, and the rate at 16 connections.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench_support import direct
from bench_support.stacks import FUNCTIONS

ROOT = Path(__file__).resolve().parents[2]


def start(addon: Path, functions: Path) -> tuple[subprocess.Popen[str], int]:
    argv = [sys.executable, "-m", "local_lambda", "--functions", str(functions), "--port", "0"]
    server = subprocess.Popen(
        [*argv, "--quiet"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(addon)},
        cwd=functions.parent,
    )
    assert server.stdout is not None
    for line in server.stdout:
        match = re.search(r"listening on http://[^:]+:(\d+)", line)
        if match:
            return server, int(match.group(1))
    raise SystemExit(f"the server from {addon} did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("revisions", nargs="+")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="compare-direct-") as temp:
        work = Path(temp)
        shutil.copy(FUNCTIONS / "handler.py", work / "handler.py")
        functions = work / "functions.yaml"
        functions.write_text("functions:\n  py: {handler: handler.py:handler, timeout: 10}\n")
        versions = {"this tree": ROOT / "addon"}
        for revision in args.revisions:
            target = work / re.sub(r"\W", "_", revision)
            target.mkdir()
            archive = subprocess.run(
                ["git", "archive", revision, "addon"], cwd=ROOT, capture_output=True, check=True
            )
            subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
            versions[revision] = target / "addon"
        results: dict[str, list[tuple[float, float, float]]] = {name: [] for name in versions}
        for round_index in range(args.rounds):
            for name, addon in versions.items():
                server, port = start(addon, functions)
                try:
                    seq = direct.sequential(port, "py", 1000, server.pid)
                    rate = direct.rate(port, "py", work, 3.0, server.pid, "asyncio")
                finally:
                    server.terminate()
                    server.wait()
                row = (seq["p50_ms"], seq["server_cpu_us_per_invoke"], rate["rps"] or 0.0)
                results[name].append(row)
                print(
                    f"round {round_index + 1} {name:<14} p50 {row[0]:.3f} ms, p99 "
                    f"{seq['p99_ms']:.3f} ms, server CPU {row[1]:.0f} us/invoke, "
                    f"{row[2]:.0f} invokes/s at 16 connections, errors {rate['errors']}",
                    flush=True,
                )
        for name, rows in results.items():
            p50, cpu, rps = (statistics.median(column) for column in zip(*rows, strict=True))
            print(f"median {name:<14} p50 {p50:.3f} ms, CPU {cpu:.0f} us/invoke, {rps:.0f}/s")


if __name__ == "__main__":
    main()

"""Smoke test of the benchmark (scripts/bench.py): it runs end to end and produces numbers.

No timed assertions: how fast A, B and C are is the benchmark's business, not the test
suite's. This only checks that every target started, answered the probe (C from the
Lambda endpoint, A and B not) and was measured without errors.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "scripts" / "bench.py"
ADDON_SHIM = ROOT / "addon" / "lambda_route.py"


@pytest.mark.e2e
def test_quick_throughput_run_measures_every_target(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            "--quick",
            "--scenario",
            "throughput",
            "--duration",
            "1",
            "--rounds",
            "1",
            "--loadgen",
            "asyncio",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=False,
    )
    report = done.stdout + done.stderr
    assert out.exists(), report
    results = json.loads(out.read_text())
    # C is required as soon as the addon's entry point exists: never skipped for good.
    expected = ["A", "B", "C"] if ADDON_SHIM.exists() else ["A", "B"]
    assert results["not_measured"] == {}, report
    measured = results["scenarios"]["throughput"]["targets"]
    assert sorted(measured) == expected, report
    for target in expected:
        row = measured[target]
        assert row["errors"] == 0, (target, row["error_samples"], report)
        assert row["requests"] > 0 and row["rps"] > 0, (target, report)
        assert 0 < row["p50_ms"] <= row["p99_ms"], (target, report)
        assert row["cpu_us_per_request"] > 0, (target, report)
    if "C" in expected:
        ratios = results["scenarios"]["throughput"]["ratios"]
        assert ratios["C/A"] > 0 and ratios["C/B"] > 0, report
    assert done.returncode == 0, report
    assert results["machine"]["cpus"] >= 1 and results["machine"]["mitmproxy"], report

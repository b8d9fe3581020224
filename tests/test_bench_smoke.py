"""Smoke test of the benchmark (scripts/bench.py): it runs end to end and produces numbers.

No timed assertions: how fast A, B and C are is the benchmark's business, not the test
suite's. This only checks that every target started, answered the probe (C from the
Lambda endpoint, A and B not) and was measured without errors.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "scripts" / "bench.py"
ADDON_SHIM = ROOT / "addon" / "lambda_route.py"
SUPPORT = ROOT / "scripts" / "bench_support"


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


PeerStarter = Callable[[str], int]
PEER_BODY = b'{"ok":true}'


@pytest.fixture
def start_peer(tmp_path: Path) -> Iterator[PeerStarter]:
    """Starts scripts/bench_support/peer.py in a role; returns its port."""
    body_file = tmp_path / "body.json"
    body_file.write_bytes(PEER_BODY)
    peers: list[subprocess.Popen[bytes]] = []

    def start(role: str) -> int:
        argv = [sys.executable, str(SUPPORT / "peer.py"), "--role", role]
        peer = subprocess.Popen([*argv, "--body-file", str(body_file)], stdout=subprocess.PIPE)
        peers.append(peer)
        assert peer.stdout is not None
        line = peer.stdout.readline().decode()
        assert line.startswith("LISTENING "), line
        return int(line.split()[1])

    yield start
    for peer in peers:
        peer.terminate()
        peer.wait(10)


def _call(port: int, method: str, path: str, headers: dict[str, str]) -> tuple[int, Any, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(method, path, body=b"{}", headers=headers)
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def test_lambda_peer_answers_like_the_invoke_api(start_peer: PeerStarter) -> None:
    port = start_peer("lambda")
    invoke = "/2015-03-31/functions/bench/invocations"
    status, headers, received = _call(port, "POST", invoke, {"Authorization": "AWS4-HMAC-SHA256 x"})
    assert (status, received) == (200, PEER_BODY)
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Amz-Executed-Version"] == "$LATEST"
    assert headers["x-amzn-RequestId"]

    status, headers, _ = _call(port, "POST", invoke, {})
    assert status == 403
    assert headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"

    status, headers, _ = _call(port, "GET", "/anything", {"Authorization": "x"})
    assert status == 404
    assert headers["x-amzn-ErrorType"] == "ResourceNotFoundException"


def _loadgen(port: int, *extra: str) -> dict[str, Any]:
    done = subprocess.run(
        [
            sys.executable,
            str(SUPPORT / "loadgen.py"),
            "--port",
            str(port),
            "--method",
            "POST",
            "--body-size",
            "3000",
            "--connections",
            "4",
            "--warmup",
            "0",
            "--requests",
            "200",
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    lines = done.stdout.splitlines()
    assert lines[:2] == ["MEASURING", "DONE"], done.stdout
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def test_load_generator_counts_answers_and_errors(start_peer: PeerStarter) -> None:
    upstream = start_peer("upstream")
    answered = _loadgen(upstream, "--expect-size", str(len(PEER_BODY)))
    assert (answered["requests"], answered["errors"]) == (200, 0)
    assert answered["bytes_received"] == 200 * len(PEER_BODY)
    assert 0 < answered["p50_ms"] <= answered["p99_ms"] <= answered["max_ms"]

    wrong_size = _loadgen(upstream, "--expect-size", "999")
    assert (wrong_size["requests"], wrong_size["errors"]) == (0, 200)
    assert wrong_size["error_samples"][0] == f"body of {len(PEER_BODY)} bytes, expected 999"

    # the Lambda peer wants an Authorization header, which the generator does not send
    refused = _loadgen(start_peer("lambda"), "--path", "/2015-03-31/functions/f/invocations")
    assert (refused["requests"], refused["errors"]) == (0, 200)
    assert refused["error_samples"][0] == "HTTP 403"


@pytest.mark.e2e
def test_signed_invokes_replay_against_the_local_server(tmp_path: Path) -> None:
    """The runtimes scenario's direct invokes: one SigV4-signed request, replayed by the raw
    client and by the load generator (--request-file), is accepted by the real server."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from bench_support import direct  # the benchmark's package lives in scripts/

    from tests.local_lambda_fixtures import start_local_lambda

    functions = ROOT / "scripts" / "bench_support" / "functions" / "functions.yaml"
    with start_local_lambda(functions) as server:
        sequential = direct.sequential(server.port, "py", 50, server.process.pid)
        assert 0 < sequential["p50_ms"] <= sequential["p99_ms"]
        request = tmp_path / "invoke.http"
        request.write_bytes(direct.signed_request(server.port, "node"))
        answered = _loadgen(server.port, "--request-file", str(request))
    assert (answered["requests"], answered["errors"]) == (200, 0)
    assert answered["bytes_received"] > 200 * len(b'{"statusCode"')

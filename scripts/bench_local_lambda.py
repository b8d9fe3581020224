"""Benchmark the local Lambda server: latency and throughput of warm Invoke calls.

    .venv/bin/python scripts/bench_local_lambda.py [--requests 2000] [--concurrency 16]
    .venv/bin/python scripts/bench_local_lambda.py --cpu [--trees OLD NEW] [--functions py,node]

Starts the server (configs/functions.yaml, --quiet) on a free port and invokes ``proxy``
with an aiohttp client. The request is SigV4-signed once with botocore and replayed, so the
numbers include the server's signature check but not the client's signing.

``--cpu``: the CPU time per invocation of the server and of its workers (from /proc, in a
wrk run of 32 connections against the benchmark's functions), for each tree given (``addon``
of a checkout, e.g. the old commit in a ``git worktree``), trees alternated round by round;
medians. CPU per invocation, unlike req/s, hardly moves with the machine's other load.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

REPO = Path(__file__).resolve().parent.parent
PAYLOAD = b'{"httpMethod": "GET", "path": "/bench"}'


def start_server() -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [
            sys.executable,
            str(REPO / "scripts" / "local_lambda.py"),
            "--functions",
            str(REPO / "configs" / "functions.yaml"),
            "--port",
            "0",
            "--quiet",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    for line in process.stdout:
        match = re.search(r"listening on (http://\S+)", line)
        if match:
            return process, match.group(1)
    raise SystemExit("the server did not start")


def signed_headers(url: str) -> dict[str, str]:
    request = AWSRequest("POST", url, data=PAYLOAD)
    SigV4Auth(Credentials("test", "test"), "lambda", "us-east-1").add_auth(request)
    return dict(request.headers.items())


async def bench(base_url: str, requests: int, concurrency: int) -> None:
    url = f"{base_url}/2015-03-31/functions/proxy/invocations"
    headers = signed_headers(url)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one() -> float:
            started = time.perf_counter()
            async with session.post(url, data=PAYLOAD, headers=headers) as response:
                await response.read()
                assert response.status == 200, response.status
            return (time.perf_counter() - started) * 1e6

        for _ in range(concurrency * 4):  # warm the connections and one worker per slot
            await one()
        latencies = sorted([await one() for _ in range(requests)])
        print(
            f"sequential: p50 {statistics.median(latencies):.0f} us, "
            f"p99 {latencies[int(len(latencies) * 0.99)]:.0f} us (round trip, aiohttp client)"
        )

        slots = asyncio.Semaphore(concurrency)

        async def limited() -> float:
            async with slots:
                return await one()

        await asyncio.gather(*(limited() for _ in range(concurrency * 4)))
        started = time.perf_counter()
        await asyncio.gather(*(limited() for _ in range(requests)))
        elapsed = time.perf_counter() - started
        print(f"concurrency {concurrency}: {requests / elapsed:.0f} invocations/s")


BENCH_FUNCTIONS = REPO / "scripts" / "bench_support" / "functions" / "functions.yaml"
EVENT = json.dumps(
    {  # an API Gateway (REST, proxy integration) event of the size the stack sends
        "resource": "/{proxy+}",
        "path": "/bench/x",
        "httpMethod": "GET",
        "headers": {f"X-Header-{i}": "v" * 30 for i in range(20)},
        "multiValueHeaders": {f"X-Header-{i}": ["v" * 30] for i in range(20)},
        "queryStringParameters": None,
        "pathParameters": {"proxy": "bench/x"},
        "requestContext": {"stage": "prod", "requestId": "r" * 36, "httpMethod": "GET"},
        "body": None,
        "isBase64Encoded": False,
    }
)
CPU_CONNECTIONS = 32
WARMUP_S = 5
"""Seconds of load before the measured run: every worker started and warm."""


def _tree_of(pid: int) -> list[int]:
    """``pid`` and its descendants (workers run in their own sessions, not its group)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry))
    found, pending = [], [pid]
    while pending:
        found.append(pending.pop())
        pending.extend(children.get(found[-1], []))
    return found


def _cpu_seconds(pids: list[int]) -> dict[int, float]:
    ticks = os.sysconf("SC_CLK_TCK")
    seconds = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        seconds[pid] = (int(fields[11]) + int(fields[12])) / ticks
    return seconds


def measure_cpu(tree: str, function: str, duration: int) -> tuple[float, float, float]:
    """(invocations/s, server us/invocation, workers us/invocation) of one wrk run."""
    env = dict(os.environ, PYTHONPATH=str(Path(tree) / "addon"))
    argv = [sys.executable, "-m", "local_lambda", "--functions", str(BENCH_FUNCTIONS)]
    process = subprocess.Popen(
        [*argv, "--port", "0", "--quiet"], stdout=subprocess.PIPE, text=True, env=env, cwd=tree
    )
    try:
        assert process.stdout is not None
        base = next(
            match[1]
            for line in process.stdout
            if (match := re.search(r"listening on (http://\S+)", line))
        )
        url = f"{base}/2015-03-31/functions/{function}/invocations"
        request = AWSRequest("POST", url, data=EVENT.encode())
        SigV4Auth(Credentials("test", "test"), "lambda", "us-east-1").add_auth(request)
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
            script.write(f'wrk.method = "POST"\nwrk.body = {json.dumps(EVENT)}\n')
            for name, value in request.headers.items():
                script.write(f"wrk.headers[{json.dumps(name)}] = {json.dumps(value)}\n")
        # wrk's default 2 s timeout is shorter than 32 Node.js cold starts on 2 cores: its
        # retries then start yet more workers, and the run measures cold starts
        wrk = ["wrk", "-t2", f"-c{CPU_CONNECTIONS}", "--timeout", "30s", "-s", script.name, url]
        subprocess.run([*wrk, f"-d{WARMUP_S}"], capture_output=True, check=True)
        pids = _tree_of(process.pid)
        before = _cpu_seconds(pids)
        out = subprocess.run([*wrk, f"-d{duration}"], capture_output=True, text=True).stdout
        after = _cpu_seconds(pids)
        os.unlink(script.name)
        count = int(re.search(r"(\d+) requests in", out)[1])  # type: ignore[index]
        if "Non-2xx" in out:
            raise SystemExit(f"errors in the run:\n{out}")
        server = after[process.pid] - before[process.pid]
        workers = sum(after[pid] - before[pid] for pid in after if pid != process.pid)
        return count / duration, server / count * 1e6, workers / count * 1e6
    finally:
        process.terminate()
        process.wait(timeout=10)


def compare_cpu(trees: list[str], functions: list[str], rounds: int, duration: int) -> None:
    runs: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
    for index in range(rounds):
        for function in functions:
            for tree in trees if index % 2 == 0 else trees[::-1]:
                run = measure_cpu(tree, function, duration)
                runs.setdefault((function, tree), []).append(run)
                print(f"{function} {tree}: %.0f inv/s, server %.0f us, workers %.0f us" % run)
    print(f"medians of {rounds} rounds, {CPU_CONNECTIONS} connections, per invocation:")
    for (function, tree), values in runs.items():
        rate, server, workers = (statistics.median(column) for column in zip(*values, strict=True))
        print(
            f"  {function:6} {tree}: {rate:6.0f} inv/s  server {server:5.0f} us  "
            f"workers {workers:5.0f} us  total {server + workers:5.0f} us"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--cpu", action="store_true", help="server CPU per invocation (wrk)")
    parser.add_argument("--trees", nargs="+", default=[str(REPO)], help="checkouts to compare")
    parser.add_argument("--functions", default="py,node", help="of the benchmark's functions")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=4, help="seconds of each wrk run")
    args = parser.parse_args()
    if args.cpu:
        compare_cpu(args.trees, args.functions.split(","), args.rounds, args.duration)
        return
    process, url = start_server()
    try:
        asyncio.run(bench(url, args.requests, args.concurrency))
    finally:
        process.terminate()
        process.wait(timeout=10)


if __name__ == "__main__":
    main()

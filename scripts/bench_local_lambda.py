"""Benchmark the local Lambda server: latency and throughput of warm Invoke calls.

    .venv/bin/python scripts/bench_local_lambda.py [--requests 2000] [--concurrency 16]

Starts the server (configs/functions.yaml, --quiet) on a free port and invokes ``proxy``
with an aiohttp client. The request is SigV4-signed once with botocore and replayed, so the
numbers include the server's signature check but not the client's signing.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import subprocess
import sys
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    process, url = start_server()
    try:
        asyncio.run(bench(url, args.requests, args.concurrency))
    finally:
        process.terminate()
        process.wait(timeout=10)


if __name__ == "__main__":
    main()

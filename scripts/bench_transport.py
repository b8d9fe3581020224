"""CPU per Invoke-shaped round trip: aiohttp's client, lambdaroute.http_client, a bare protocol.

Runs the three side by side in one process against the benchmark's loopback Lambda peer
(``scripts/bench_support/peer.py --role lambda``, a separate process), sequential calls on
one kept-alive connection, and prints the process CPU time per call (``time.process_time``:
what the proxy pays, apart from the peer's share and wall time). Rounds alternate between
the clients so that machine noise hits them alike; the median round is reported.

    .venv/bin/python scripts/bench_transport.py [--calls 3000] [--rounds 5] [--body-bytes 41]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
from yarl import URL

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "addon"))

from lambdaroute.http_client import HttpClient  # noqa: E402

PATH = "/2015-03-31/functions/bench/invocations"
PAYLOAD = b'{"request_method":"GET","request_uri":"/x"}'


class _BareClient(asyncio.Protocol):
    """The floor: parses only Content-Length framing, nothing else."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.waiter: asyncio.Future[bytes] | None = None

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        length = 0
        for line in bytes(self.buffer[:end]).split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if len(self.buffer) >= end + 4 + length and self.waiter is not None:
            body = bytes(self.buffer[end + 4 : end + 4 + length])
            del self.buffer[: end + 4 + length]
            self.waiter.set_result(body)


def _headers(port: int) -> dict[str, str]:
    return {
        "Host": f"127.0.0.1:{port}",
        "X-Amz-Invocation-Type": "RequestResponse",
        "X-Amz-Log-Type": "None",
        "User-Agent": "lambda-route/bench",
        "X-Amz-Date": "20261126T000000Z",
        "Authorization": "AWS4-HMAC-SHA256 Credential=AKID/20261126/us-east-1/lambda/"
        "aws4_request, SignedHeaders=host;x-amz-date, Signature=" + "0" * 64,
    }


async def _cpu_per_call(call: Callable[[], Awaitable[object]], calls: int) -> float:
    for _ in range(100):  # warm up: connection open, caches
        await call()
    started = time.process_time()
    for _ in range(calls):
        await call()
    return (time.process_time() - started) / calls * 1e6


async def _measure(port: int, calls: int, rounds: int) -> dict[str, list[float]]:
    headers = _headers(port)
    url = URL(f"http://127.0.0.1:{port}{PATH}", encoded=True)
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0),
        auto_decompress=False,
        skip_auto_headers=("Content-Type", "Accept-Encoding"),
    )

    async def aiohttp_call() -> object:
        async with session.post(url, data=PAYLOAD, headers=headers) as response:
            return (await response.read(), tuple(response.headers.items()))

    http = HttpClient()
    target = http.post_target(scheme="http", host="127.0.0.1", port=port, path=PATH, keepalive_s=60)

    async def transport_call() -> object:
        return await target.post(headers, PAYLOAD)

    loop = asyncio.get_running_loop()
    bare_transport, bare = await loop.create_connection(_BareClient, "127.0.0.1", port)
    bare_head = (
        f"POST {PATH} HTTP/1.1\r\n"
        + "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        + f"Content-Length: {len(PAYLOAD)}\r\n\r\n"
    ).encode()

    async def bare_call() -> object:
        bare.waiter = loop.create_future()
        bare_transport.writelines((bare_head, PAYLOAD))
        return await bare.waiter

    clients: dict[str, Callable[[], Awaitable[object]]] = {
        "aiohttp ClientSession.post": aiohttp_call,
        "lambdaroute.http_client": transport_call,
        "bare asyncio.Protocol": bare_call,
    }
    results: dict[str, list[float]] = {name: [] for name in clients}
    try:
        for _ in range(rounds):
            for name, call in clients.items():
                results[name].append(await _cpu_per_call(call, calls))
    finally:
        await session.close()
        await http.close()
        bare_transport.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=3000, help="calls per client per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--body-bytes", type=int, default=41, help="size of the peer's answer")
    args = parser.parse_args()
    with tempfile.NamedTemporaryFile(suffix=".json") as body_file:
        body_file.write(b'{"ok":true,"message":"' + b"x" * max(args.body_bytes - 24, 0) + b'"}')
        body_file.flush()
        peer = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "scripts" / "bench_support" / "peer.py"),
                "--role",
                "lambda",
                "--body-file",
                body_file.name,
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert peer.stdout is not None
            port = int(peer.stdout.readline().split()[1])  # "LISTENING <port>"
            results = asyncio.run(_measure(port, args.calls, args.rounds))
        finally:
            peer.kill()
            peer.wait()
    print(f"CPU us per call (median of {args.rounds} rounds of {args.calls}; all rounds)")
    for name, samples in results.items():
        rounded = ", ".join(f"{sample:.1f}" for sample in samples)
        print(f"  {name:28} {statistics.median(samples):7.1f}   [{rounded}]")


if __name__ == "__main__":
    main()

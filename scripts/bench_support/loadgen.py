"""The asyncio load generator: a fixed number of keep-alive HTTP/1.1 connections, each
sending its next request as soon as the previous answer arrived (a closed loop, so the load
is bounded by the connection count).

Run as its own process (``python loadgen.py ...``) so that it does not share a core with the
harness; prints ``MEASURING`` when the measured window opens and ``DONE`` when it closes (the
harness reads the target's CPU time at both), then one JSON object.

Timing: all connections are opened first (connect time is not request latency). With
``--duration``, the window is ``[start + warmup, start + warmup + duration]`` and a request
counts when it *completes* inside it (as wrk counts), so the window sees the steady state:
no barrier re-synchronises the connections (which, against a 1 s function, would turn
200 clients into one burst per second). With ``--requests``, every request counts and the
window runs from the start to the last answer.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

#: per-connection read buffer; big responses are read with readexactly regardless
READ_LIMIT = 1 << 20
MAX_ERROR_SAMPLES = 5
#: printed on stdout when the measured window opens and when it closes
MEASURING, DONE = "MEASURING", "DONE"


class BadResponse(Exception):
    pass


@dataclass(slots=True)
class Totals:
    """Shared by every connection of one run; only requests that complete inside the
    measured window are recorded."""

    window_start: float
    window_end: float
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    bytes_received: int = 0
    requests_left: int = -1  # -1: run for a duration instead

    def record(self, started: float, finished: float, problem: str | None, size: int) -> None:
        if not self.window_start <= finished <= self.window_end:
            return
        self.bytes_received += size
        if problem is None:
            self.latencies.append(finished - started)
            return
        self.errors += 1
        if len(self.error_samples) < MAX_ERROR_SAMPLES:
            self.error_samples.append(problem)


def build_request(method: str, path: str, body_size: int) -> bytes:
    lines = [
        f"{method} {path} HTTP/1.1",
        "Host: bench.example",
        "User-Agent: lambda-route-bench/1",
        "Accept: application/json",
        "X-Request-Source: bench",
    ]
    if body_size or method in ("POST", "PUT", "PATCH"):
        lines += ["Content-Type: text/plain", f"Content-Length: {body_size}"]
    head = ("\r\n".join(lines) + "\r\n\r\n").encode()
    return head + b"b" * body_size


async def read_response(reader: asyncio.StreamReader) -> tuple[int, int]:
    """(status, body length) of one response; the body is read and dropped."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lower = head.lower()
    start = lower.find(b"\r\ncontent-length:")
    if start >= 0:
        end = lower.index(b"\r\n", start + 2)
        length = int(head[start + 17 : end])
        if length:
            await reader.readexactly(length)
        return status, length
    if b"\r\ntransfer-encoding: chunked" in lower:
        return status, await _read_chunked(reader)
    raise BadResponse("response without Content-Length or chunked body")


async def _read_chunked(reader: asyncio.StreamReader) -> int:
    total = 0
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":
                pass
            return total
        await reader.readexactly(size + 2)
        total += size


class Connection:
    def __init__(
        self, host: str, port: int, request: bytes, expect_size: int | None, timeout: float
    ) -> None:
        self.address = (host, port)
        self.request = request
        self.expect_size = expect_size
        self.timeout = timeout
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(*self.address, limit=READ_LIMIT)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def exchange(self) -> tuple[str | None, int]:
        """One request/response: (what went wrong or None, body bytes received)."""
        try:
            async with asyncio.timeout(self.timeout):
                if self.writer is None:
                    await self.open()
                assert self.reader is not None and self.writer is not None
                self.writer.write(self.request)
                if len(self.request) > READ_LIMIT:
                    await self.writer.drain()
                status, size = await read_response(self.reader)
        except (
            OSError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            TimeoutError,
            BadResponse,
            ValueError,
        ) as error:
            self.close()
            return f"{type(error).__name__}: {error}", 0
        if status != 200:
            return f"HTTP {status}", size
        if self.expect_size is not None and size != self.expect_size:
            return f"body of {size} bytes, expected {self.expect_size}", size
        return None, size


async def run(args: argparse.Namespace) -> dict[str, object]:
    if args.request_file:  # a prepared request, e.g. a SigV4-signed Invoke call
        request = Path(args.request_file).read_bytes()
    else:
        request = build_request(args.method, args.path, args.body_size)
    connections = [
        Connection(args.host, args.port, request, args.expect_size, args.timeout)
        for _ in range(args.connections)
    ]
    connect_slots = asyncio.Semaphore(64)

    async def open_one(connection: Connection) -> None:
        async with connect_slots:
            await connection.open()

    await asyncio.gather(*(open_one(c) for c in connections))
    perf_counter = time.perf_counter
    window_start = perf_counter() + args.warmup
    window_end = math.inf if args.requests else window_start + args.duration
    totals = Totals(window_start, window_end, requests_left=args.requests or -1)

    async def announce() -> None:
        await asyncio.sleep(window_start - perf_counter())
        print(MEASURING, flush=True)
        if not args.requests:
            await asyncio.sleep(window_end - perf_counter())
            print(DONE, flush=True)

    async def drive(connection: Connection) -> None:
        while totals.requests_left != 0:
            started = perf_counter()
            if started >= window_end:
                break
            if totals.requests_left > 0:
                totals.requests_left -= 1
            problem, size = await connection.exchange()
            totals.record(started, perf_counter(), problem, size)
        connection.close()

    announcer = asyncio.create_task(announce())
    await asyncio.gather(*(drive(c) for c in connections))
    await announcer
    if args.requests:
        print(DONE, flush=True)
        elapsed = perf_counter() - window_start
    else:
        elapsed = args.duration
    return summarize(totals, elapsed, args.connections)


def summarize(totals: Totals, elapsed: float, connections: int) -> dict[str, object]:
    ordered = sorted(totals.latencies)

    def percentile_ms(q: float) -> float | None:
        if not ordered:
            return None
        return ordered[max(0, math.ceil(q * len(ordered)) - 1)] * 1000

    return {
        "generator": "asyncio",
        "connections": connections,
        "requests": len(ordered),
        "errors": totals.errors,
        "error_samples": totals.error_samples,
        "elapsed_s": elapsed,
        "rps": len(ordered) / elapsed if elapsed > 0 else 0.0,
        "p50_ms": percentile_ms(0.50),
        "p90_ms": percentile_ms(0.90),
        "p99_ms": percentile_ms(0.99),
        "max_ms": ordered[-1] * 1000 if ordered else None,
        "mean_ms": sum(ordered) * 1000 / len(ordered) if ordered else None,
        "bytes_received": totals.bytes_received,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="closed-loop asyncio HTTP/1.1 load generator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/")
    parser.add_argument("--method", default="GET")
    parser.add_argument("--body-size", type=int, default=0, help="request body bytes")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds measured")
    parser.add_argument("--requests", type=int, default=0, help="total requests instead")
    parser.add_argument("--warmup", type=float, default=0.5, help="seconds not recorded")
    parser.add_argument("--timeout", type=float, default=30.0, help="per request, seconds")
    parser.add_argument("--expect-size", type=int, default=None, help="response body bytes")
    parser.add_argument("--request-file", help="send these bytes as every request")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    print(json.dumps(asyncio.run(run(parse_args(argv)))))


if __name__ == "__main__":
    main()

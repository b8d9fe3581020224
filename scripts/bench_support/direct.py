"""Direct Invoke calls to the local server, no proxy: the p50 of one invoke (sequential,
one keep-alive connection, a raw socket client that costs next to nothing) and the rate at
16 connections (the asyncio generator replaying the same signed request)."""

from __future__ import annotations

import socket
import statistics
import time
from pathlib import Path
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from bench_support.drivers import LoadSpec, drive
from bench_support.stacks import tree_cpu_seconds

EVENT = b'{"httpMethod": "GET", "path": "/bench/items", "headers": {}, "body": null}'


def signed_request(port: int, function: str, payload: bytes = EVENT) -> bytes:
    """The raw bytes of a SigV4-signed Invoke request; replayed, it stays valid for minutes."""
    path = f"/2015-03-31/functions/{function}/invocations"
    request = AWSRequest("POST", f"http://127.0.0.1:{port}{path}", data=payload)
    SigV4Auth(Credentials("test", "test"), "lambda", "us-east-1").add_auth(request)
    lines = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    lines += [f"{name}: {value}" for name, value in request.headers.items()]
    lines += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


def _exchange(sock: socket.socket, request: bytes, buffer: bytearray) -> bytes:
    sock.sendall(request)
    while b"\r\n\r\n" not in buffer:
        buffer += sock.recv(65536)
    head_end = buffer.index(b"\r\n\r\n") + 4
    head = bytes(buffer[:head_end]).lower()
    start = head.index(b"content-length:") + 15
    length = int(head[start : head.index(b"\r\n", start)])
    while len(buffer) < head_end + length:
        buffer += sock.recv(65536)
    response = bytes(buffer[: head_end + length])
    del buffer[: head_end + length]
    if not response.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"direct invoke failed: {response[:300]!r}")
    return response


def sequential(port: int, function: str, invokes: int, server_pid: int) -> dict[str, Any]:
    """``invokes`` invokes one after the other; the server's CPU (workers included) per call."""
    request = signed_request(port, function)
    latencies = []
    buffer = bytearray()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for _ in range(max(20, invokes // 10)):  # warm: the worker, caches, the connection
            _exchange(sock, request, buffer)
        cpu_before = tree_cpu_seconds([server_pid])
        for _ in range(invokes):
            started = time.perf_counter()
            _exchange(sock, request, buffer)
            latencies.append((time.perf_counter() - started) * 1000)
        cpu_used = tree_cpu_seconds([server_pid]) - cpu_before
    latencies.sort()
    return {
        "function": function,
        "invokes": invokes,
        "p50_ms": round(statistics.median(latencies), 3),
        "p99_ms": round(latencies[int(len(latencies) * 0.99)], 3),
        "server_cpu_us_per_invoke": round(cpu_used * 1e6 / invokes, 1),
    }


def rate(
    port: int, function: str, workdir: Path, duration: float, server_pid: int, generator: str
) -> dict[str, Any]:
    request_file = workdir / f"invoke-{function}.http"
    request_file.write_bytes(signed_request(port, function))
    spec = LoadSpec(port, 16, duration, warmup=0.3, request_file=str(request_file))
    result = drive(spec, generator, server_pid)
    return {
        "function": function,
        "connections": 16,
        "rps": result["rps"],
        "p50_ms": result["p50_ms"],
        "errors": result["errors"],
        "server_main_cpu_us_per_invoke": result["cpu_us_per_request"],
    }

"""Issue 8's figures: the request-body memory bound and the soak run (not CI tests).

Both run a real mitmdump with lambda-route in reverse mode and the local Lambda server
(scripts/local_lambda.py, configs/functions.yaml's ``echo``) on loopback:

* ``hugebodies``: ``clients`` connections each POST one ``size``-byte body (Content-Length,
  sent in 1 MiB writes) to a route with ``forward_request_body`` (skip_large_bodies on, as
  Kong's default): the body goes to the intake endpoint, is read and dropped, and the
  function gets the event without it. Reports mitmdump's peak RSS growth (VmHWM reset
  before the run) against ``clients x 2 x lambda_body_buffer_size``.
* ``soak``: ``total`` GETs over 16 keep-alive connections; the local Lambda server is
  stopped (SIGTERM) and started again after every ``phase`` requests. Reports sent / ok /
  failed (each failure's time is checked against the restart windows: from the stop to
  the first 200 after the start) / lost (no answer at all),
  and mitmdump's RSS and open fds after each phase.
"""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from .environment import ADDON_SHIM, ROOT
from .procs import free_port, memory, reset_peak_rss

MIB = 1024 * 1024
BUFFER_SIZE = 6 * MIB  # lambda_body_buffer_size's default
_LISTENING = re.compile(r"local-lambda listening on http://\S+:(\d+)")


def _config(workdir: Path, lambda_port: int) -> Path:
    plugin = {
        "aws_region": "us-east-1",
        "aws_key": "bench",
        "aws_secret": "bench-secret",
        "host": "127.0.0.1",
        "port": lambda_port,
        "disable_https": True,
        "function_name": "echo",
        "timeout": 10_000,
    }
    routes = [
        {"name": "soak", "paths": ["/soak"], "plugins": [{"name": "aws-lambda", "config": plugin}]},
        {
            "name": "upload",
            "paths": ["/upload"],
            "plugins": [{"name": "aws-lambda", "config": {**plugin, "forward_request_body": True}}],
        },
    ]
    path = workdir / "reliability.yaml"
    path.write_text(yaml.safe_dump({"_format_version": "3.0", "routes": routes}))
    return path


def _functions(workdir: Path) -> Path:
    """configs/functions.yaml's echo without its reserved concurrency of 10 (which would
    throttle 16 or 20 clients)."""
    path = workdir / "functions.yaml"
    handler = ROOT / "configs" / "functions" / "echo.py"
    path.write_text(yaml.safe_dump({"functions": {"echo": {"handler": f"{handler}:handler"}}}))
    return path


def _start_lambda(workdir: Path, port: int) -> subprocess.Popen[bytes]:
    log = workdir / f"local-lambda-{time.monotonic_ns()}.log"
    process = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "scripts" / "local_lambda.py"),
            "--functions",
            str(_functions(workdir)),
            "--quiet",
            "--port",
            str(port),
            "--host",
            "127.0.0.1",
            "--access-key",
            "bench",
            "--secret-key",
            "bench-secret",
        ],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )
    deadline = time.monotonic() + 30
    while not _LISTENING.search(log.read_text(errors="replace")):
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"local Lambda server did not start:\n{log.read_text()}")
        time.sleep(0.05)
    return process


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _start_mitmdump(workdir: Path, config: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    mitmdump = Path(sys.executable).parent / "mitmdump"
    process = subprocess.Popen(
        [
            str(mitmdump),
            "-q",
            "-s",
            str(ADDON_SHIM),
            "--listen-host",
            "127.0.0.1",
            "--listen-port",
            str(port),
            "--mode",
            f"reverse:http://127.0.0.1:{free_port()}",
            "--set",
            f"confdir={workdir}",
            "--set",
            f"lambda_config={config}",
        ],
        stdout=(workdir / "mitmdump.log").open("wb"),
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            with __import__("socket").create_connection(("127.0.0.1", port), timeout=0.2):
                return process, port
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("mitmdump did not start") from None
            time.sleep(0.05)


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return status, await reader.readexactly(length)


async def _upload(port: int, size: int) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"POST /upload HTTP/1.1\r\nHost: bench.test\r\nContent-Type: application/octet-stream"
        b"\r\nContent-Length: %d\r\n\r\n" % size
    )
    piece = b"u" * MIB
    sent = 0
    while sent < size:
        writer.write(piece[: size - sent])
        sent += min(MIB, size - sent)
        await writer.drain()
    try:
        return await asyncio.wait_for(_read_response(reader), 120)
    finally:
        writer.close()


def hugebodies(workdir: Path, *, clients: int = 20, size: int = 100 * MIB) -> dict[str, Any]:
    lambda_port = free_port()
    server = _start_lambda(workdir, lambda_port)
    proxy, port = _start_mitmdump(workdir, _config(workdir, lambda_port))
    try:
        asyncio.run(_upload(port, MIB))  # warm up: imports, first connections
        before = memory(proxy.pid)
        reset_peak_rss(proxy.pid)
        started = time.monotonic()

        async def all_uploads() -> list[tuple[int, bytes]]:
            return await asyncio.gather(*(_upload(port, size) for _ in range(clients)))

        answers = asyncio.run(all_uploads())
        elapsed = time.monotonic() - started
        after = memory(proxy.pid)
    finally:
        _stop(proxy)
        _stop(server)
    growth = (after.peak_rss_kib - before.rss_kib) * 1024
    bound = clients * 2 * BUFFER_SIZE
    return {
        "clients": clients,
        "body_bytes": size,
        "ok": sum(1 for status, body in answers if status == 200 and b'"request_body"' in body),
        "statuses": sorted({status for status, _ in answers}),
        "seconds": round(elapsed, 1),
        "rss_before_mib": round(before.rss_kib / 1024, 1),
        "peak_rss_mib": round(after.peak_rss_kib / 1024, 1),
        "peak_growth_mib": round(growth / MIB, 1),
        "bound_mib": bound // MIB,
        "within_bound": growth < bound,
    }


def soak(workdir: Path, *, total: int = 100_000, phase: int = 20_000) -> dict[str, Any]:
    lambda_port = free_port()
    servers = [_start_lambda(workdir, lambda_port)]
    proxy, port = _start_mitmdump(workdir, _config(workdir, lambda_port))
    counts = {"sent": 0, "ok": 0, "failed": 0, "failed_outside_windows": 0, "lost": 0}
    windows: list[list[float]] = []  # [stopped, first 200 after the restart] of each restart
    last_ok = [0.0]
    phases: list[dict[str, Any]] = []
    failure_times: list[float] = []

    async def client() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while counts["sent"] < total:
            counts["sent"] += 1
            writer.write(b"GET /soak?i=%d HTTP/1.1\r\nHost: soak.test\r\n\r\n" % counts["sent"])
            try:
                status, _ = await asyncio.wait_for(_read_response(reader), 30)
            except (OSError, asyncio.IncompleteReadError, TimeoutError):
                counts["lost"] += 1
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                continue
            if status == 200:
                counts["ok"] += 1
                last_ok[0] = time.monotonic()
            else:
                counts["failed"] += 1
                failure_times.append(time.monotonic())
        writer.close()

    async def controller() -> None:
        for boundary in range(phase, total + 1, phase):
            while counts["sent"] < boundary:
                await asyncio.sleep(0.05)
            usage = memory(proxy.pid)
            phases.append(
                {
                    "after_requests": boundary,
                    "rss_mib": round(usage.rss_kib / 1024, 1),
                    "open_fds": usage.open_fds,
                }
            )
            if boundary == total:
                return
            down = time.monotonic()
            await asyncio.to_thread(_stop, servers[-1])
            servers.append(await asyncio.to_thread(_start_lambda, workdir, lambda_port))
            up = time.monotonic()
            while last_ok[0] < up:  # the window closes with the first answer from the function
                await asyncio.sleep(0.01)
            windows.append([down, last_ok[0]])

    async def run() -> None:
        await asyncio.gather(controller(), *(client() for _ in range(16)))

    started = time.monotonic()
    try:
        asyncio.run(run())
    finally:
        _stop(proxy)
        for server in servers:
            _stop(server)
    counts["failed_outside_windows"] = sum(
        1 for moment in failure_times if not any(a <= moment <= b for a, b in windows)
    )
    return {
        **counts,
        "sent": min(counts["sent"], total),
        "seconds": round(time.monotonic() - started, 1),
        "restarts": len(windows),
        "phases": phases,
    }

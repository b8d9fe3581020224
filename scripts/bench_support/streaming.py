"""Issue 11: response streaming through the proxy.

Starts the local Lambda server with the Node.js handlers of ``tests/node_functions/relay``
and a ``mitmdump`` with lambda-route routing ``/marked`` and ``/large`` with ``invoke_mode:
RESPONSE_STREAM``, then measures, side by side in alternating rounds:

- time to first byte: a handler writes a chunk at once, then another 50 ms later.
  *direct*: botocore's ``invoke_with_response_stream`` against the local server, from the
  call to the first ``PayloadChunk``; *proxy*: an HTTP/1.1 GET through mitmdump, from the
  request to the first body byte. Medians, and their difference.
- memory: a 100 MiB stream (64 KiB writes) relayed through the proxy and read at full
  speed by the client: mitmdump's peak RSS (VmHWM, reset before) minus its RSS before.
"""

from __future__ import annotations

import http.client
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from .procs import PYTHON, ProcessGroup, free_port, memory, reset_peak_rss

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = ROOT / "tests" / "node_functions" / "relay"
LISTENING = re.compile(r"local-lambda listening on http://(\S+):(\d+)")
READ_SIZE = 64 * 1024


def measure(workdir: Path, *, rounds: int = 15, megabytes: int = 100) -> dict[str, Any]:
    functions = workdir / "stream-functions.yaml"
    functions.write_text(
        f"functions:\n"
        f"  marked: {{runtime: nodejs20.x, code: {FUNCTIONS}, handler: index.marked}}\n"
        f"  large: {{runtime: nodejs20.x, code: {FUNCTIONS}, handler: index.large, "
        "timeout: 120}\n"
    )
    log = (workdir / "stream-lambda.log").open("wb")
    server = subprocess.Popen(
        [PYTHON, str(ROOT / "scripts" / "local_lambda.py"), "--functions", str(functions)]
        + ["--host", "127.0.0.1", "--port", "0"],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )
    try:
        port = _lambda_port(workdir / "stream-lambda.log", server)
        with ProcessGroup(workdir) as group:
            proxy = group.start_mitmdump(
                "stream-proxy",
                free_port(),
                ["-s", str(ROOT / "addon" / "lambda_route.py")]
                + ["--set", f"lambda_config={_config(workdir, port)}"],
            )
            group.wait_listening(proxy)
            return _measure(port, proxy.port, proxy.pid, rounds, megabytes)
    finally:
        server.terminate()
        server.wait(10)
        log.close()


def _measure(
    lambda_port: int, proxy_port: int, proxy_pid: int, rounds: int, megabytes: int
) -> dict[str, Any]:
    import botocore.session
    from botocore.config import Config

    client = botocore.session.get_session().create_client(
        "lambda",
        region_name="us-east-1",
        endpoint_url=f"http://127.0.0.1:{lambda_port}",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 1}, read_timeout=60),
    )
    direct: list[float] = []
    proxied: list[float] = []
    with tempfile.TemporaryDirectory() as markers:
        for index in range(rounds + 2):  # the first two warm the function and the paths up
            marker = f"{markers}/m{index}"
            started = time.perf_counter()
            answer = client.invoke_with_response_stream(
                FunctionName="marked", Payload=json.dumps({"delay": 50, "marker": marker})
            )
            events = iter(answer["EventStream"])
            assert "PayloadChunk" in next(events)
            direct_ms = (time.perf_counter() - started) * 1000
            for _ in events:
                pass
            proxy_ms = _first_byte_ms(proxy_port, f"/marked?delay=50&marker={marker}-p", drain=True)
            if index >= 2:
                direct.append(direct_ms)
                proxied.append(proxy_ms)
    before = memory(proxy_pid)
    peak_reset = reset_peak_rss(proxy_pid)
    started = time.perf_counter()
    relayed = _read_all(proxy_port, f"/large?megabytes={megabytes}")
    elapsed = time.perf_counter() - started
    after = memory(proxy_pid)
    return {
        "rounds": rounds,
        "direct_first_byte_ms_median": round(statistics.median(direct), 2),
        "proxy_first_byte_ms_median": round(statistics.median(proxied), 2),
        "proxy_minus_direct_ms": round(statistics.median(proxied) - statistics.median(direct), 2),
        "direct_first_byte_ms": [round(x, 2) for x in direct],
        "proxy_first_byte_ms": [round(x, 2) for x in proxied],
        "stream_bytes": relayed,
        "stream_seconds": round(elapsed, 2),
        "stream_mib_per_s": round(relayed / elapsed / 2**20, 1),
        "rss_before_kib": before.rss_kib,
        "peak_rss_kib": after.peak_rss_kib if peak_reset else None,
        "rss_growth_kib": (after.peak_rss_kib if peak_reset else after.rss_kib) - before.rss_kib,
    }


def render(result: dict[str, Any]) -> str:
    return "\n".join(
        [
            f"  time to first byte, median of {result['rounds']} alternating rounds: "
            f"direct (botocore) {result['direct_first_byte_ms_median']} ms, "
            f"through the proxy {result['proxy_first_byte_ms_median']} ms "
            f"(+{result['proxy_minus_direct_ms']} ms)",
            f"  {result['stream_bytes'] / 2**20:.0f} MiB stream relayed in "
            f"{result['stream_seconds']} s ({result['stream_mib_per_s']} MiB/s); mitmdump RSS "
            f"{result['rss_before_kib'] / 1024:.1f} MiB before, peak growth "
            f"{result['rss_growth_kib'] / 1024:.1f} MiB",
        ]
    )


def _first_byte_ms(port: int, path: str, *, drain: bool) -> float:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        started = time.perf_counter()
        connection.request("GET", path, headers={"Host": "bench.stream"})
        response = connection.getresponse()
        if response.status != 200:
            raise RuntimeError(f"{path}: {response.status} {response.read()[:300]!r}")
        response.read1(READ_SIZE)
        first_byte_ms = (time.perf_counter() - started) * 1000
        if drain:
            while response.read1(READ_SIZE):
                pass
        return first_byte_ms
    finally:
        connection.close()


def _read_all(port: int, path: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        connection.request("GET", path, headers={"Host": "bench.stream"})
        response = connection.getresponse()
        size = 0
        while piece := response.read1(READ_SIZE):
            size += len(piece)
        return size
    finally:
        connection.close()


def _config(workdir: Path, lambda_port: int) -> Path:
    plugin = {
        "aws_region": "us-east-1",
        "aws_key": "test",
        "aws_secret": "test",
        "host": "127.0.0.1",
        "port": lambda_port,
        "disable_https": True,
        "invoke_mode": "RESPONSE_STREAM",
        "timeout": 120000,
    }
    routes = [
        {
            "name": name,
            "paths": [f"/{name}"],
            "plugins": [{"name": "aws-lambda", "config": {**plugin, "function_name": name}}],
        }
        for name in ("marked", "large")
    ]
    path = workdir / "stream-kong.yaml"
    path.write_text(yaml.safe_dump({"_format_version": "3.0", "routes": routes}))
    return path


def _lambda_port(log: Path, server: subprocess.Popen[bytes]) -> int:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        match = LISTENING.search(log.read_text(errors="replace"))
        if match:
            return int(match.group(2))
        if server.poll() is not None:
            break
        time.sleep(0.05)
    print(log.read_text(errors="replace"), file=sys.stderr)
    raise RuntimeError("the local Lambda server did not start")

"""Driving a target with a bounded load: wrk when installed (and asked for), else the
asyncio generator in loadgen.py; both give the same result fields."""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .loadgen import DONE, MEASURING
from .procs import PYTHON, SUPPORT, cpu_seconds, machine_busy_seconds

#: wrk prints this line from its ``done`` callback (latencies in microseconds)
WRK_REPORT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,' ..
    '"timeout":%d,"p50":%d,"p90":%d,"p99":%d,"max":%d,"bytes":%d}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    summary.bytes))
end
"""


@dataclass(frozen=True, slots=True)
class LoadSpec:
    port: int
    connections: int
    duration: float = 5.0
    requests: int = 0  # > 0: this many requests in all instead of a duration
    warmup: float = 0.5
    path: str = "/bench/items?page=1&size=10"
    method: str = "GET"
    body_size: int = 0
    expect_size: int | None = None
    timeout: float = 30.0
    request_file: str = ""
    """a prepared request (bytes) sent instead of ``method path``; asyncio generator only"""


def available_generator(requested: str) -> str:
    """``asyncio`` or ``wrk``: ``auto`` takes wrk when it is on PATH."""
    if requested == "auto":
        return "wrk" if shutil.which("wrk") else "asyncio"
    if requested == "wrk" and not shutil.which("wrk"):
        raise SystemExit("--loadgen wrk: wrk is not installed (apt-get install -y wrk)")
    return requested


def drive(
    spec: LoadSpec, generator: str, target_pid: int | None = None, own_pids: Sequence[int] = ()
) -> dict[str, Any]:
    """One load run; the result has requests, errors, rps, p50/p90/p99/max_ms and, given
    the target's pid:

    - ``cpu_us_per_request``: the target's CPU time over the measured window per request,
      less sensitive than req/s to other work on the machine;
    - ``other_load_cpus``: CPUs (0..nproc) busy with processes that are not the
      benchmark's (``own_pids``, the generator, this process) during the window.
    """
    cpu = CpuMeter(target_pid, own_pids)
    simple = not (spec.requests or spec.body_size or spec.request_file)
    if generator == "wrk" and simple and spec.expect_size is None:
        result = _drive_wrk(spec, cpu)
    else:
        result = _drive_asyncio(spec, cpu)
    used = cpu.target_used()
    result["cpu_us_per_request"] = (
        used * 1e6 / result["requests"] if used is not None and result["requests"] else None
    )
    result["other_load_cpus"] = cpu.other_load()
    return result


@dataclass(frozen=True, slots=True)
class CpuSample:
    target: float  # CPU seconds of the target so far
    ours: float  # of every process of the benchmark (target included)
    machine: float  # busy CPU seconds of the whole machine
    wall: float


class CpuMeter:
    """The target's CPU time between ``start`` and ``stop``, and the CPU time the rest of
    the machine spent on work that is not the benchmark's meanwhile."""

    def __init__(self, target_pid: int | None, own_pids: Sequence[int] = ()) -> None:
        self.target_pid = target_pid
        self.own_pids = [pid for pid in own_pids if pid != target_pid]
        self.started: CpuSample | None = None
        self.stopped: CpuSample | None = None

    def add_own(self, pid: int) -> None:
        self.own_pids.append(pid)

    def _sample(self) -> CpuSample | None:
        if self.target_pid is None:
            return None
        target = cpu_seconds(self.target_pid)
        ours = target + sum(cpu_seconds(pid) for pid in self.own_pids)
        for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):  # wrk, once reaped
            usage = resource.getrusage(who)
            ours += usage.ru_utime + usage.ru_stime
        return CpuSample(target, ours, machine_busy_seconds(), time.monotonic())

    def start(self) -> None:
        self.started = self._sample()

    def stop(self) -> None:
        self.stopped = self._sample()

    def target_used(self) -> float | None:
        if self.started is None or self.stopped is None:
            return None
        return self.stopped.target - self.started.target

    def other_load(self) -> float | None:
        if self.started is None or self.stopped is None:
            return None
        others = (self.stopped.machine - self.started.machine) - (
            self.stopped.ours - self.started.ours
        )
        return max(0.0, others) / (self.stopped.wall - self.started.wall)


def _drive_asyncio(spec: LoadSpec, cpu: CpuMeter) -> dict[str, Any]:
    argv = [
        PYTHON,
        str(SUPPORT / "loadgen.py"),
        "--port",
        str(spec.port),
        "--path",
        spec.path,
        "--method",
        spec.method,
        "--body-size",
        str(spec.body_size),
        "--connections",
        str(spec.connections),
        "--duration",
        str(spec.duration),
        "--requests",
        str(spec.requests),
        "--warmup",
        str(spec.warmup),
        "--timeout",
        str(spec.timeout),
    ]
    if spec.expect_size is not None:
        argv += ["--expect-size", str(spec.expect_size)]
    if spec.request_file:
        argv += ["--request-file", spec.request_file]
    limit = spec.warmup + spec.duration + spec.timeout + 60 + spec.requests / 50
    lines: list[str] = []
    with (
        tempfile.TemporaryFile() as errors,
        subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=errors, text=True) as generator,
    ):
        cpu.add_own(generator.pid)
        watchdog = threading.Timer(limit, generator.kill)  # the generator bounds itself; belt
        watchdog.start()
        try:
            assert generator.stdout is not None
            for line in generator.stdout:
                marker = line.strip()
                if marker == MEASURING:
                    cpu.start()
                elif marker == DONE:
                    cpu.stop()
                else:
                    lines.append(line)
        finally:
            watchdog.cancel()
        generator.wait()
        errors.seek(0)
        problem = errors.read().decode(errors="replace")[-2000:]
    if generator.returncode != 0 or not lines:
        raise RuntimeError(f"load generator failed ({generator.returncode}): {problem}{lines}")
    try:
        result: dict[str, Any] = json.loads(lines[-1])
    except ValueError as error:
        raise RuntimeError(f"load generator printed {lines!r}: {problem}") from error
    return result


def _drive_wrk(spec: LoadSpec, cpu: CpuMeter) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(f'wrk.method = "{spec.method}"\n')
        script.write('wrk.headers["Host"] = "bench.example"\n')
        script.write('wrk.headers["Accept"] = "application/json"\n')
        script.write('wrk.headers["X-Request-Source"] = "bench"\n')
        script.write(WRK_REPORT)
    try:
        url = f"http://127.0.0.1:{spec.port}{spec.path}"
        common = [
            "wrk",
            "-t1",
            f"-c{spec.connections}",
            f"--timeout={spec.timeout:g}s",
            "-s",
            script.name,
        ]
        if spec.warmup:  # wrk's -d takes whole seconds only: warm up with the asyncio client
            _drive_asyncio(replace(spec, duration=spec.warmup, warmup=0), CpuMeter(None))
        cpu.start()
        done = subprocess.run(
            [*common, f"-d{max(1, round(spec.duration))}s", url],
            capture_output=True,
            check=False,
            timeout=spec.duration + 90,
        )
        cpu.stop()
    finally:
        Path(script.name).unlink()
    lines = [line for line in done.stdout.decode().splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(
            f"wrk failed: {done.stdout.decode()[-1000:]}{done.stderr.decode()[-1000:]}"
        )
    report = json.loads(lines[-1])
    elapsed = report["duration_us"] / 1e6
    errors = sum(report[k] for k in ("connect", "read", "write", "status", "timeout"))
    ok = report["requests"] - report["status"]
    return {
        "generator": "wrk",
        "connections": spec.connections,
        "requests": ok,
        "errors": errors,
        "error_samples": [
            f"{k}: {report[k]}"
            for k in ("connect", "read", "write", "status", "timeout")
            if report[k]
        ],
        "elapsed_s": elapsed,
        "rps": ok / elapsed if elapsed else 0.0,
        "p50_ms": report["p50"] / 1000,
        "p90_ms": report["p90"] / 1000,
        "p99_ms": report["p99"] / 1000,
        "max_ms": report["max"] / 1000,
        "bytes_received": report["bytes"],
    }

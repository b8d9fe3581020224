"""Starting, watching and always stopping the benchmark's processes."""

from __future__ import annotations

import os
import selectors
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

PYTHON = sys.executable
#: mitmdump from the same virtualenv as the running interpreter
MITMDUMP = str(Path(sys.executable).parent / "mitmdump")
SUPPORT = Path(__file__).resolve().parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class StartError(RuntimeError):
    """A process did not come up; the message carries the tail of its log."""


@dataclass(slots=True)
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass(frozen=True, slots=True)
class Memory:
    rss_kib: int
    peak_rss_kib: int  # VmHWM
    open_fds: int


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def memory(pid: int) -> Memory:
    """VmRSS, VmHWM and the number of open file descriptors, from /proc."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return Memory(fields["VmRSS"], fields["VmHWM"], len(os.listdir(f"/proc/{pid}/fd")))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def machine_busy_seconds() -> float:
    """CPU seconds all CPUs spent busy (user, nice, system, irq, softirq), from /proc/stat."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    user, nice, system, _idle, _iowait, irq, softirq = (int(x) for x in fields[1:8])
    return (user + nice + system + irq + softirq) / CLOCK_TICKS


def reset_peak_rss(pid: int) -> bool:
    """Make VmHWM start again from the current RSS (Linux clear_refs 5); False if refused."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


class ProcessGroup:
    """Every process started through it is stopped on exit, also on Ctrl-C or an error."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.procs: list[Proc] = []

    def __enter__(self) -> ProcessGroup:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop_all()

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.popen.poll() is None:
                proc.popen.terminate()
        deadline = time.monotonic() + 5
        for proc in self.procs:
            try:
                proc.popen.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.popen.kill()
                proc.popen.wait()
        self.procs.clear()

    def stop(self, proc: Proc, timeout: float = 10.0) -> None:
        """Stop one process gracefully (SIGTERM lets mitmdump run its ``done`` hooks)."""
        if proc.popen.poll() is None:
            proc.popen.terminate()
            try:
                proc.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.popen.kill()
                proc.popen.wait()
        self.procs.remove(proc)

    def _popen(
        self, name: str, argv: list[str], stdout: int | None
    ) -> tuple[subprocess.Popen[bytes], Path]:
        log = self.workdir / f"{name}.log"
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with log.open("wb") as log_file:
            popen = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=stdout if stdout is not None else log_file,
                stderr=log_file,
                env=env,
            )
        return popen, log

    def start_peer(self, name: str, role: str, body_file: Path, delay: float = 0.0) -> Proc:
        """A peer (peer.py); its port is read from its ``LISTENING <port>`` line."""
        argv = [
            PYTHON,
            str(SUPPORT / "peer.py"),
            "--role",
            role,
            "--body-file",
            str(body_file),
            "--delay",
            str(delay),
        ]
        popen, log = self._popen(name, argv, subprocess.PIPE)
        proc = Proc(name, popen, 0, log)
        self.procs.append(proc)
        assert popen.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(popen.stdout, selectors.EVENT_READ)
            if not selector.select(timeout=15):
                raise StartError(f"{name} did not start in 15 s:\n{proc.log_tail()}")
        line = popen.stdout.readline().decode()
        if not line.startswith("LISTENING "):
            raise StartError(f"{name} did not start:\n{line}{proc.log_tail()}")
        proc.port = int(line.split()[1])
        return proc

    def start_mitmdump(self, name: str, upstream_port: int, extra: list[str]) -> Proc:
        """mitmdump in reverse mode to the upstream on a free port, quiet, lazy connections."""
        port = free_port()
        argv = [
            MITMDUMP,
            "-q",
            "--listen-host",
            "127.0.0.1",
            "--listen-port",
            str(port),
            "--mode",
            f"reverse:http://127.0.0.1:{upstream_port}",
            "--set",
            "connection_strategy=lazy",
            *extra,
        ]
        popen, log = self._popen(name, argv, None)
        proc = Proc(name, popen, port, log)
        self.procs.append(proc)
        return proc

    def wait_listening(self, proc: Proc, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.popen.poll() is not None:
                raise StartError(
                    f"{proc.name} exited with {proc.popen.returncode}:\n{proc.log_tail()}"
                )
            try:
                socket.create_connection(("127.0.0.1", proc.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise StartError(f"{proc.name} is not listening after {timeout:.0f} s:\n{proc.log_tail()}")

"""Run a real mitmdump with the addon, on a free loopback port, for end-to-end tests.

``MASTER`` says which command runs the proxy: ``"mitmdump"`` (``mitmdump -s
addon/lambda_route.py``, the default) or ``"lean"`` (``lambda-route --lean``). The
``proxy_master`` fixture runs a test module against both; the environment variable
``LAMBDA_ROUTE_MASTER`` picks the default for everything else.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ADDON = ROOT / "addon" / "lambda_route.py"
MITMDUMP = Path(sys.executable).parent / "mitmdump"
MASTERS = ("mitmdump", "lean")
MASTER = os.environ.get("LAMBDA_ROUTE_MASTER", "mitmdump")
# lambda-route --lean without the CONFIG argument (some tests start without lambda_config)
LEAN = "import sys; from lambdaroute.lean import run_lean; run_lean(sys.argv[1:])"


@pytest.fixture(scope="module", params=MASTERS)
def proxy_master(request: pytest.FixtureRequest) -> Iterator[str]:
    """Import it into a test module and mark the module with
    ``pytest.mark.usefixtures("proxy_master")`` (module-scoped proxies also take it as an
    argument): every test runs against mitmdump and against ``lambda-route --lean``."""
    global MASTER
    previous, MASTER = MASTER, request.param
    try:
        yield request.param
    finally:
        MASTER = previous


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Mitmdump:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    confdir: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, text: str, timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            log = self.log()
            if text in log:
                return log
            time.sleep(0.05)
        raise AssertionError(f"{text!r} not in mitmdump's log:\n{self.log()}")


def mitmdump_command(config: Path | str | None, *extra: str, port: int, confdir: Path) -> list[str]:
    if MASTER == "lean":
        command = [sys.executable, "-c", LEAN]
    else:
        command = [str(MITMDUMP), "-s", str(ADDON)]
    command += [
        "--listen-host",
        "127.0.0.1",
        "--listen-port",
        str(port),
        "--set",
        f"confdir={confdir}",
    ]
    if config is not None:
        command += ["--set", f"lambda_config={config}"]
    return command + list(extra)


@contextmanager
def logged_process(
    command: list[str], log_path: Path, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``command`` from the project root with its output in ``log_path``; always stop it."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            command, stdout=log_file, stderr=subprocess.STDOUT, env=full_env, cwd=ROOT
        )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def run_mitmdump(
    config: Path | str | None,
    *extra: str,
    tmp_path: Path,
    env: dict[str, str] | None = None,
    startup_timeout: float = 20.0,
) -> Iterator[Mitmdump]:
    """Start mitmdump, wait until it listens, yield it, and always stop it."""
    port = free_port()
    confdir = tmp_path / "mitmproxy-conf"
    confdir.mkdir(exist_ok=True)
    log_path = tmp_path / f"mitmdump-{port}.log"
    command = mitmdump_command(config, *extra, port=port, confdir=confdir)
    with logged_process(command, log_path, env) as process:
        proxy = Mitmdump(process, port, log_path, confdir)
        _wait_until_listening(proxy, startup_timeout)
        yield proxy


def run_mitmdump_to_exit(
    config: Path | str, *extra: str, tmp_path: Path, timeout: float = 30.0
) -> subprocess.CompletedProcess[str]:
    """Run mitmdump expecting it to exit by itself (e.g. a bad config at start-up)."""
    confdir = tmp_path / "mitmproxy-conf"
    confdir.mkdir(exist_ok=True)
    return subprocess.run(
        mitmdump_command(config, *extra, port=free_port(), confdir=confdir),
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        cwd=ROOT,
    )


def _wait_until_listening(proxy: Mitmdump, timeout: float) -> None:
    """Until this mitmdump says it listens (the port accepting is not enough: another
    process may have taken the free port meanwhile) and the port accepts."""
    deadline = time.monotonic() + timeout
    listening = f"listening at 127.0.0.1:{proxy.port}"
    while time.monotonic() < deadline:
        if proxy.process.poll() is not None:
            raise AssertionError(f"mitmdump exited with {proxy.process.returncode}:\n{proxy.log()}")
        if listening in proxy.log():
            try:
                with socket.create_connection(("127.0.0.1", proxy.port), timeout=0.2):
                    return
            except OSError:
                pass
        time.sleep(0.05)
    raise AssertionError(f"mitmdump did not listen within {timeout}s:\n{proxy.log()}")


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")

"""Start the local Lambda server as a real subprocess, for tests.

    from tests.local_lambda_fixtures import start_local_lambda, lambda_client

    with start_local_lambda() as server:          # configs/functions.yaml, a free port
        client = lambda_client(server.url)        # botocore, credentials test/test
        client.invoke(FunctionName="echo", Payload=b"{}")

or use the module-scoped pytest fixture ``local_lambda`` (import it into the test module or a
conftest). The server binds port 0 and reports the port it got, so there is no race for a
free port. Its stdout (the listening line and every invocation's log) goes to a file, read
with ``server.output()``.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "local_lambda.py"
EXAMPLE_FUNCTIONS = REPO / "configs" / "functions.yaml"
_LISTENING = re.compile(r"local-lambda listening on http://(\S+):(\d+)")


@dataclass(slots=True)
class LocalLambdaServer:
    """A running server process; stop() (or leaving the ``with`` block) ends it."""

    process: subprocess.Popen[bytes]
    host: str
    port: int
    output_file: Path

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def output(self) -> str:
        return self.output_file.read_text(encoding="utf-8", errors="replace")

    def wait_for_output(self, text: str, timeout: float = 10.0) -> str:
        """Wait until ``text`` appears in the server's output (e.g. an END line)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            output = self.output()
            if text in output:
                return output
            time.sleep(0.02)
        raise AssertionError(f"{text!r} not in the server output:\n{self.output()}")

    def stop(self, signum: int = signal.SIGTERM) -> int:
        """End the server (it ends its workers) and return its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signum)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def __enter__(self) -> LocalLambdaServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        self.output_file.unlink(missing_ok=True)


def start_local_lambda(
    functions: str | Path = EXAMPLE_FUNCTIONS,
    *,
    access_key: str = "test",
    secret_key: str = "test",
    verify: bool = True,
    extra_args: Sequence[str] = (),
    startup_timeout: float = 30.0,
) -> LocalLambdaServer:
    """Start ``scripts/local_lambda.py`` on 127.0.0.1 and a free port; wait until it listens."""
    fd, name = tempfile.mkstemp(prefix="local-lambda-", suffix=".log")
    output_file = Path(name)
    command = [
        sys.executable,
        str(SCRIPT),
        "--functions",
        str(functions),
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--access-key",
        access_key,
        "--secret-key",
        secret_key,
        *([] if verify else ["--no-verify"]),
        *extra_args,
    ]
    with os.fdopen(fd, "wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, cwd=REPO)
    deadline = time.monotonic() + startup_timeout
    while time.monotonic() < deadline:
        match = _LISTENING.search(output_file.read_text(encoding="utf-8", errors="replace"))
        if match:
            return LocalLambdaServer(process, match.group(1), int(match.group(2)), output_file)
        if process.poll() is not None:
            break
        time.sleep(0.02)
    if process.poll() is None:
        process.kill()
        process.wait()
    output = output_file.read_text(encoding="utf-8", errors="replace")
    output_file.unlink(missing_ok=True)
    raise RuntimeError(f"local Lambda server did not start (exit {process.returncode}):\n{output}")


def lambda_client(
    url: str,
    access_key: str = "test",
    secret_key: str = "test",
    **config: Any,
) -> Any:
    """A botocore Lambda client for the server at ``url`` (no retries unless configured)."""
    import botocore.session
    from botocore.config import Config

    config.setdefault("retries", {"total_max_attempts": 1})
    config.setdefault("read_timeout", 30)
    return botocore.session.get_session().create_client(
        "lambda",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        config=Config(**config),
    )


@pytest.fixture(scope="module")
def local_lambda() -> Iterator[LocalLambdaServer]:
    """The server with the example functions (configs/functions.yaml), for one test module."""
    with start_local_lambda() as server:
        yield server

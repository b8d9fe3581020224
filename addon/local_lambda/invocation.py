"""One invocation as the workers see it: the call, its outcome, and its Lambda-style log."""

from __future__ import annotations

import base64
import functools
import json
import math
import signal
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from local_lambda.functions import FunctionSpec, Target

TAIL_BYTES = 4096
"""The ``Tail`` log's size (the last 4 KB, as Lambda sends)."""


@dataclass(frozen=True, slots=True)
class Call:
    """One invocation to run."""

    target: Target
    request_id: str
    payload: bytes
    client_context: dict[str, Any] | None = None
    trace_id: str = ""
    """The X-Ray trace header, given to the function as ``_X_AMZN_TRACE_ID``."""


@dataclass(slots=True, eq=False)
class Outcome:
    """What the function produced."""

    payload: bytes
    function_error: bool
    render_log: Callable[[], str]
    """Renders ``log`` on first use: most invocations (a quiet server, no ``Tail``) never
    need it, and its REPORT line reads the worker's peak memory from /proc."""
    _log: str | None = None

    @property
    def log(self) -> str:
        """The execution log: the function's output between START and END/REPORT lines."""
        if self._log is None:
            self._log = self.render_log()
        return self._log

    def log_tail(self) -> str:
        """The ``Tail`` log: base64 of the last 4 KB of the execution log."""
        return base64.b64encode(self.log.encode("utf-8")[-TAIL_BYTES:]).decode("ascii")


class WorkerExited(Exception):
    """The worker process ended while it was starting or running an invocation."""

    def __init__(self, returncode: int | None) -> None:
        super().__init__(returncode)
        self.returncode = returncode

    @property
    def reason(self) -> str:
        code = self.returncode
        if code is None:
            return "Runtime exited without providing a reason"
        if code < 0:
            name = signal.strsignal(-code) or f"signal {-code}"
            return f"Runtime exited with error: signal: {name.lower()}"
        return f"Runtime exited with error: exit status {code}"


class InvocationLog:
    """Assembles one invocation's log as Lambda writes it (init output, START ... REPORT)."""

    def __init__(self, call: Call, spec: FunctionSpec) -> None:
        self._call = call
        self._spec = spec
        self._prefix = ""
        self._init_ms: float | None = None
        self._parts = [f"START RequestId: {call.request_id} Version: {call.target.version}\n"]

    def init(self, init_log: str, init_ms: float) -> None:
        self._prefix = init_log
        self._init_ms = init_ms

    def output(self, text: str) -> None:
        self._parts.append(text)

    def finish(
        self, payload: bytes, failed: bool, duration_ms: float, memory_mb: Callable[[], int]
    ) -> Outcome:
        """The outcome; its log (with ``memory_mb()`` in the REPORT line) is made when read."""
        return Outcome(payload, failed, functools.partial(self._render, duration_ms, memory_mb))

    def _render(self, duration_ms: float, memory_mb: Callable[[], int]) -> str:
        request_id = self._call.request_id
        init = f"Init Duration: {self._init_ms:.2f} ms\t" if self._init_ms is not None else ""
        if not self._parts[-1].endswith("\n"):
            self._parts.append("\n")
        self._parts.append(
            f"END RequestId: {request_id}\n"
            f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
            f"Billed Duration: {math.ceil(duration_ms)} ms\t"
            f"Memory Size: {self._spec.memory_size} MB\t"
            f"Max Memory Used: {memory_mb()} MB\t{init}\n"
        )
        return self._prefix + "".join(self._parts)

    def timed_out(self, duration_ms: float, memory_mb: Callable[[], int]) -> Outcome:
        request_id = self._call.request_id
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        message = f"Task timed out after {self._spec.timeout:.2f} seconds"
        self._parts.append(f"{now} {request_id} {message}\n")
        error = {
            "errorType": "Sandbox.Timedout",
            "errorMessage": f"RequestId: {request_id} Error: {message}",
        }
        return self.finish(json.dumps(error).encode(), True, duration_ms, memory_mb)

    def crashed(
        self, exc: WorkerExited, duration_ms: float, memory_mb: Callable[[], int]
    ) -> Outcome:
        request_id = self._call.request_id
        message = f"RequestId: {request_id} Error: {exc.reason}"
        self._parts.append(f"{message}\nRuntime.ExitError\n")
        error = {"errorType": "Runtime.ExitError", "errorMessage": message}
        return self.finish(json.dumps(error).encode(), True, duration_ms, memory_mb)

"""The Python worker of the short form (``handler: path.py:fn``): ``local_lambda.runtime``
in a subprocess, speaking length-prefixed frames over its pipes (see runtime.py)."""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from local_lambda.api_worker import OnChunk
from local_lambda.functions import FunctionSpec
from local_lambda.invocation import InvocationLog, WorkerExited
from local_lambda.process import kill_group, watch_exit
from local_lambda.runtime import pack_with_meta, split_meta

INIT_TIMEOUT = 10.0
"""Seconds a new worker may take to start and import its handler (AWS: 10 s)."""


@dataclass(slots=True, eq=False)
class Worker:
    """One running worker process (an execution environment)."""

    process: asyncio.subprocess.Process
    generation: int
    environment_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    init_ms: float | None = None
    """Set until the first invocation reports it (the REPORT line's Init Duration)."""
    init_log: str = ""
    init_error: dict[str, Any] | None = None
    max_memory_mb: int = 0
    idle_since: float = field(default_factory=time.monotonic)
    _created_day: str = ""

    @property
    def alive(self) -> bool:
        return self.process.returncode is None

    def peak_memory_mb(self) -> int:
        """As the worker reported it with its last result."""
        return self.max_memory_mb

    def log_stream(self, version: str) -> str:
        return f"{self.created_day}/[{version}]{self.environment_id}"

    @property
    def created_day(self) -> str:
        if not self._created_day:  # strftime costs microseconds on every invocation
            self._created_day = f"{self.created:%Y/%m/%d}"
        return self._created_day

    async def read_frame(self) -> tuple[bytes, bytes]:
        stdout = self.process.stdout
        assert stdout is not None
        try:
            header = await stdout.readexactly(5)
            body = await stdout.readexactly(int.from_bytes(header[1:], "big"))
        except (asyncio.IncompleteReadError, ConnectionError):
            raise WorkerExited(await self.process.wait()) from None
        return header[:1], body

    async def send(self, frame: bytes) -> None:
        stdin = self.process.stdin
        assert stdin is not None
        try:
            stdin.write(frame)
            await stdin.drain()
        except ConnectionError:
            raise WorkerExited(await self.process.wait()) from None

    async def kill(self) -> None:
        kill_group(self.process.pid)
        await self.process.wait()

    async def exchange(
        self,
        meta: dict[str, Any],
        payload: bytes,
        log: InvocationLog,
        on_chunk: OnChunk | None = None,
    ) -> Any:
        """Send the invocation and read its logs and result; None if it timed out.

        A Python handler cannot stream: its result is whole, and ``on_chunk`` is not used.
        """
        await self.send(pack_with_meta(b"I", meta, payload))
        try:
            async with asyncio.timeout(meta["timeout"]):
                while True:
                    kind, body = await self.read_frame()
                    if kind == b"L":
                        log.output(body.decode("utf-8", "replace"))
                        continue
                    result, out = split_meta(body)
                    break
        except TimeoutError:
            return None
        self.max_memory_mb = result["max_memory_mb"]
        return out, result["error"], result["duration_ms"]


async def start_pipe_worker(
    spec: FunctionSpec, environment: dict[str, str], generation: int
) -> Worker:
    assert spec.handler_file is not None
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-P",  # not the cwd (the handler's directory) first on sys.path: runtime.py does it
        "-m",
        "local_lambda.runtime",
        str(spec.handler_file),
        spec.handler_name,
        *python_module(spec),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        env=environment,
        cwd=spec.code_dir,
        start_new_session=True,
    )
    watch_exit(process.pid)
    worker = Worker(process, generation)
    spawned = time.perf_counter()
    logs: list[str] = []
    try:
        async with asyncio.timeout(INIT_TIMEOUT):
            while True:
                kind, body = await worker.read_frame()
                if kind == b"L":
                    logs.append(body.decode("utf-8", "replace"))
                    continue
                ready = json.loads(body)
                break
    except TimeoutError:
        await worker.kill()
        raise WorkerExited(None) from None
    except BaseException:
        await worker.kill()
        raise
    worker.init_ms = (time.perf_counter() - spawned) * 1000
    worker.init_error = ready["error"]
    worker.init_log = "".join(logs)
    return worker


def python_module(spec: FunctionSpec) -> tuple[str, ...]:
    """AWS's form (``runtime: python3.x``, ``handler: pkg.mod.handler`` or ``dir/mod.handler``)
    names a module to import from the task root, as AWS's runtime does; the short form none."""
    if not spec.handler_text:
        return ()
    return (spec.handler_text.rpartition(".")[0].replace("/", "."),)

"""A worker that is a Runtime API client (Node.js, custom runtimes, any ``command``).

Its stdout and stderr are the invocation log; results arrive through its RuntimeSession. A
streaming-mode response is passed to ``on_chunk`` piece by piece when the caller streams
(InvokeWithResponseStream), and gathered (up to the payload limit) when it does not.
"""

from __future__ import annotations

import asyncio
import codecs
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from local_lambda.errors import RESPONSE_LIMIT, response_too_large
from local_lambda.invocation import WorkerExited
from local_lambda.process import PeakMemory, kill_group, watch_exit
from local_lambda.response_stream import ResponseStream, StreamBroken
from local_lambda.runtime_api import Invocation, RuntimeApi, RuntimeExited, RuntimeSession

OnChunk = Callable[[bytes], Awaitable[None]]


class _Log(Protocol):
    def output(self, text: str) -> None: ...


INIT_TIMEOUT = 10.0


@dataclass(slots=True, eq=False)
class ApiWorker:
    process: asyncio.subprocess.Process
    session: RuntimeSession
    api: RuntimeApi
    generation: int
    environment_id: str
    exited: asyncio.Future[None]
    memory: PeakMemory
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    init_ms: float | None = None
    init_log: str = ""
    init_error: dict[str, Any] | None = None
    idle_since: float = field(default_factory=time.monotonic)
    sink: list[str] = field(default_factory=list)
    readers: list[asyncio.Task[None]] = field(default_factory=list)
    _created_day: str = ""

    @property
    def alive(self) -> bool:
        return self.process.returncode is None and not self.exited.done()

    def log_stream(self, version: str) -> str:
        if not self._created_day:  # strftime costs microseconds on every invocation
            self._created_day = f"{self.created:%Y/%m/%d}"
        return f"{self._created_day}/[{version}]{self.environment_id}"

    def peak_memory_mb(self) -> int:
        """The process's peak memory, read only when a REPORT line is made."""
        return self.memory.read()

    async def kill(self) -> None:
        kill_group(self.process.pid)
        self.session.close(RuntimeExited())
        await self.process.wait()
        self.memory.close()
        await asyncio.gather(*self.readers, return_exceptions=True)
        await self.api.release(self.session)

    async def exchange(
        self, meta: dict[str, Any], payload: bytes, log: _Log, on_chunk: OnChunk | None = None
    ) -> Any:
        """Run one invocation: (payload, failed, duration_ms), or None on timeout.

        A streamed response that went to ``on_chunk`` leaves the payload empty (or the error
        object the stream ended with).
        """
        pending, self.sink = self.sink, []
        for text in pending:
            log.output(text)
        self._log = log
        headers = {
            "Lambda-Runtime-Aws-Request-Id": meta["request_id"],
            "Lambda-Runtime-Deadline-Ms": str(int((time.time() + meta["timeout"]) * 1000)),
            "Lambda-Runtime-Invoked-Function-Arn": meta["invoked_arn"],
            "Lambda-Runtime-Trace-Id": meta["trace_id"],
            "Content-Type": "application/json",
        }
        if meta.get("client_context") is not None:
            headers["Lambda-Runtime-Client-Context"] = json.dumps(meta["client_context"])
        invocation = Invocation(meta["request_id"], payload or b"{}", headers)
        started = time.perf_counter()
        self.session.dispatch(invocation)
        try:
            async with asyncio.timeout(meta["timeout"]):
                result = await invocation.result
                out, failed = result.payload, result.failed
                if result.stream is not None:
                    try:
                        out, failed = await _consume(result.stream, on_chunk)
                    except StreamBroken:
                        # cut short while the process lives: its exit, or the timeout, follows
                        await self.exited
                        raise RuntimeExited() from None
        except TimeoutError:
            return None
        except RuntimeExited:
            await asyncio.gather(*self.readers, return_exceptions=True)
            raise WorkerExited(await self.process.wait()) from None
        finally:
            self._log = None
        return out, failed, (time.perf_counter() - started) * 1000

    _log: _Log | None = None

    def _write(self, text: str) -> None:
        if self._log is not None:
            self._log.output(text)
        else:
            self.sink.append(text)

    async def _read(self, stream: asyncio.StreamReader) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        while chunk := await stream.read(65536):
            self._write(decoder.decode(chunk))


async def _consume(stream: ResponseStream, on_chunk: OnChunk | None) -> tuple[bytes, bool]:
    """Pass the stream on (or gather it) to its end: (payload, failed)."""
    pieces: list[bytes] = []
    size = 0
    try:
        async for piece in stream:
            if on_chunk is not None:
                await on_chunk(piece)
                continue
            size += len(piece)
            if size <= RESPONSE_LIMIT:
                pieces.append(piece)
            elif pieces:
                pieces.clear()
    finally:
        stream.abandon()
    if stream.error is not None:
        return json.dumps(stream.error).encode(), True
    if size > RESPONSE_LIMIT:
        return response_too_large(), True
    return b"".join(pieces), False


async def start_api_worker(
    api: RuntimeApi, argv: list[str], environment: dict[str, str], cwd: str, generation: int
) -> ApiWorker:
    """Start the worker and wait for its first /next (or its init error, or its exit)."""
    session = await api.open()
    environment_id = uuid.uuid4().hex
    env = dict(environment)
    env["AWS_LAMBDA_RUNTIME_API"] = session.endpoint
    env["AWS_LAMBDA_LOG_STREAM_NAME"] = f"{datetime.now(UTC):%Y/%m/%d}/[$LATEST]{environment_id}"
    spawned = time.perf_counter()
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
    except OSError as exc:
        await api.release(session)
        raise WorkerExited(127) from exc
    exited = watch_exit(process.pid)
    exited.add_done_callback(lambda _: session.close(RuntimeExited()))
    memory = PeakMemory(process.pid)
    worker = ApiWorker(process, session, api, generation, environment_id, exited, memory)
    assert process.stdout is not None and process.stderr is not None
    worker.readers = [
        asyncio.create_task(worker._read(process.stdout)),
        asyncio.create_task(worker._read(process.stderr)),
    ]
    try:
        async with asyncio.timeout(INIT_TIMEOUT):
            worker.init_error = await session.ready
    except (TimeoutError, RuntimeExited):
        await worker.kill()
        raise WorkerExited(process.returncode) from None
    worker.init_ms = (time.perf_counter() - spawned) * 1000
    worker.init_log, worker.sink = "".join(worker.sink), []
    return worker

"""Worker processes: warm execution environments per function, like Lambda's.

Each function has a pool. An invocation takes an idle worker or starts a new one, up to
the function's ``reserved_concurrency`` and the server-wide cap (429 over either). A
worker is a plain subprocess running ``local_lambda.runtime`` and speaking frames over
pipes (see runtime.py); the event loop only ever awaits it. A timeout ends the worker, a
crash is reported as ``Runtime.ExitError``, and a handler file whose stat changed gets
fresh workers on the next invocation.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import math
import os
import signal
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import local_lambda
from local_lambda.api_worker import ApiWorker, OnChunk, start_api_worker
from local_lambda.errors import ServiceError, too_many_requests
from local_lambda.functions import FunctionSpec, Target
from local_lambda.process import kill_group, watch_exit
from local_lambda.runtime import pack_with_meta, split_meta
from local_lambda.runtime_api import RuntimeApi
from local_lambda.runtimes import module_for

DEFAULT_IDLE_TIMEOUT = 600.0
"""Seconds an idle worker is kept warm before it is ended (Lambda keeps them minutes)."""

INIT_TIMEOUT = 10.0
"""Seconds a new worker may take to start and import its handler (AWS: 10 s)."""

TAIL_BYTES = 4096

_ADDON_DIR = str(Path(local_lambda.__file__).resolve().parent.parent)


@dataclass(frozen=True, slots=True)
class Call:
    """One invocation to run."""

    target: Target
    request_id: str
    payload: bytes
    client_context: dict[str, Any] | None = None
    trace_id: str = ""
    """The X-Ray trace header, given to the function as ``_X_AMZN_TRACE_ID``."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the function produced."""

    payload: bytes
    function_error: bool
    log: str
    """The execution log: the function's output between START and END/REPORT lines."""

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

    @property
    def alive(self) -> bool:
        return self.process.returncode is None

    def log_stream(self, version: str) -> str:
        return f"{self.created:%Y/%m/%d}/[{version}]{self.environment_id}"

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
        log: _LogBuilder,
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


AnyWorker = Worker | ApiWorker


@dataclass(slots=True)
class FunctionPool:
    """The workers of one function."""

    spec: FunctionSpec
    environment: dict[str, str]
    api: RuntimeApi
    idle: list[AnyWorker] = field(default_factory=list)
    busy: int = 0
    generation: int = 0
    code_stamp: Any = None

    def check_code(self) -> list[AnyWorker]:
        """Start a new generation if the handler file changed; return the idle workers to end.

        One ``os.stat`` per invocation: the inode cache answers it in microseconds, and it
        is what makes an edit visible on the very next invocation.
        """
        stamp: Any
        if self.spec.handler_file is None:
            stamp = code_stamp(self.spec.code_dir)
        else:
            try:
                stat = os.stat(self.spec.handler_file)
                stamp = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
            except OSError:
                stamp = None
        if stamp == self.code_stamp:
            return []
        self.code_stamp = stamp
        self.generation += 1
        stale, self.idle = self.idle, []
        return stale

    async def start_worker(self) -> AnyWorker:
        spec = self.spec
        if spec.uses_runtime_api:
            argv = module_for(spec.runtime).argv(spec)
            return await start_api_worker(
                self.api, argv, self.environment, str(spec.code_dir), self.generation
            )
        assert spec.handler_file is not None
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-P",  # not the cwd (the handler's directory) first on sys.path: runtime.py does it
            "-m",
            "local_lambda.runtime",
            str(spec.handler_file),
            spec.handler_name,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=self.environment,
            cwd=spec.code_dir,
            start_new_session=True,
        )
        watch_exit(process.pid)
        worker = Worker(process, self.generation)
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


def code_stamp(code_dir: Path, limit: int = 2000) -> tuple[Any, ...]:
    """Names, mtimes and sizes of the code directory's files (not node_modules, not dot
    directories, at most ``limit`` entries): a change means fresh workers."""
    stamp: list[Any] = []
    pending = [code_dir]
    while pending and len(stamp) < limit:
        try:
            entries = list(os.scandir(pending.pop()))
        except OSError:
            continue
        for entry in entries:
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            stamp.append((entry.path, info.st_mtime_ns, info.st_size, info.st_ino))
            if entry.is_dir(follow_symlinks=False) and not (
                entry.name.startswith(".") or entry.name in ("node_modules", "__pycache__")
            ):
                pending.append(Path(entry.path))
    return tuple(sorted(stamp))


def worker_environment(
    spec: FunctionSpec, region: str, credentials: tuple[str, str] = ("test", "test")
) -> dict[str, str]:
    """The process environment: the server's, Lambda's variables, then the function's.

    Credentials: the caller's ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` (and session
    token) when it has them, else the server's ``--access-key``/``--secret-key``.
    """
    environment = dict(os.environ)
    if "AWS_ACCESS_KEY_ID" not in environment or "AWS_SECRET_ACCESS_KEY" not in environment:
        environment["AWS_ACCESS_KEY_ID"], environment["AWS_SECRET_ACCESS_KEY"] = credentials
        environment.pop("AWS_SESSION_TOKEN", None)
    python_path = environment.get("PYTHONPATH")
    runtime = module_for(spec.runtime)
    execution_env = runtime.execution_env(spec)
    environment.pop("AWS_EXECUTION_ENV", None)
    environment.update(
        {
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_size),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "LAMBDA_TASK_ROOT": str(spec.code_dir),
            "LAMBDA_RUNTIME_DIR": str(Path(runtime.__file__ or _ADDON_DIR).resolve().parent),
            "TZ": ":UTC",
            "_HANDLER": spec.handler,
            "PYTHONPATH": _ADDON_DIR + (os.pathsep + python_path if python_path else ""),
            **({"AWS_EXECUTION_ENV": execution_env} if execution_env else {}),
        }
    )
    environment.update(spec.environment)
    return environment


class WorkerManager:
    """Runs invocations on pooled workers, enforcing concurrency limits and timeouts."""

    def __init__(
        self,
        specs: dict[str, FunctionSpec],
        region: str,
        max_concurrency: int,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
        credentials: tuple[str, str] = ("test", "test"),
    ) -> None:
        self._api = RuntimeApi()
        self._pools = {
            name: FunctionPool(spec, worker_environment(spec, region, credentials), self._api)
            for name, spec in specs.items()
        }
        self._max_concurrency = max_concurrency
        self._idle_timeout = idle_timeout
        self._idle_reaper: asyncio.Task[None] | None = None
        self._running = 0
        self._busy_workers: set[AnyWorker] = set()
        self._reaping: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Start one worker per function, so that the first invocations are warm, and the
        task that ends workers idle for longer than the idle timeout."""
        await self._warm_up()
        self._idle_reaper = asyncio.create_task(self._reap_idle_forever())

    async def _reap_idle_forever(self) -> None:
        while True:
            await asyncio.sleep(min(self._idle_timeout / 2, 30.0))
            oldest_kept = time.monotonic() - self._idle_timeout
            for pool in self._pools.values():
                expired = [worker for worker in pool.idle if worker.idle_since < oldest_kept]
                if expired:
                    pool.idle = [worker for worker in pool.idle if worker not in expired]
                    self._reap(expired)

    async def _warm_up(self) -> None:

        async def one(pool: FunctionPool) -> None:
            pool.check_code()
            with contextlib.suppress(Exception):
                worker = await pool.start_worker()
                if worker.init_error is None and worker.generation == pool.generation:
                    pool.idle.append(worker)
                else:
                    await worker.kill()

        await asyncio.gather(*(one(pool) for pool in self._pools.values()))

    def reserve(self, name: str) -> None:
        """Count an invocation as running, or raise the 429 AWS would answer."""
        pool = self._pools[name]
        reserved = pool.spec.reserved_concurrency
        if reserved is not None and pool.busy >= reserved:
            raise too_many_requests("ReservedFunctionConcurrentInvocationLimitExceeded")
        if self._running >= self._max_concurrency:
            raise too_many_requests("ConcurrentInvocationLimitExceeded")
        pool.busy += 1
        self._running += 1

    async def reserve_when_free(self, name: str) -> None:
        """Wait for capacity instead of failing: Lambda queues Event invocations."""
        while True:
            try:
                self.reserve(name)
            except ServiceError:
                await asyncio.sleep(0.05)
            else:
                return

    def _unreserve(self, name: str) -> None:
        self._pools[name].busy -= 1
        self._running -= 1

    async def invoke(self, call: Call, on_chunk: OnChunk | None = None) -> Outcome:
        """Run a reserved invocation (see ``reserve``) to its outcome.

        With ``on_chunk``, a response the function streams is passed to it as it is written
        (``Outcome.payload`` is then empty, or the error object the stream ended with); a
        buffered one is in ``Outcome.payload`` as always.
        """
        pool = self._pools[call.target.spec.name]
        try:
            return await self._run(pool, call, on_chunk)
        finally:
            self._unreserve(pool.spec.name)

    async def _run(self, pool: FunctionPool, call: Call, on_chunk: OnChunk | None) -> Outcome:
        self._reap(pool.check_code())
        log = _LogBuilder(call, pool.spec)
        worker = self._take_idle(pool)
        try:
            if worker is None:
                worker = await pool.start_worker()
        except WorkerExited as exc:
            return log.crashed(exc, 0.0, 0)
        started = time.perf_counter()
        if worker.init_ms is not None:
            log.init(worker.init_log, worker.init_ms)
            worker.init_ms = None
        if worker.init_error is not None:
            self._reap([worker])
            return log.finish(json.dumps(worker.init_error).encode(), True, 0.0, 0)
        self._busy_workers.add(worker)
        reusable = False
        try:
            meta = {
                "request_id": call.request_id,
                "version": call.target.version,
                "invoked_arn": call.target.invoked_arn,
                "timeout": pool.spec.timeout,
                "log_stream": worker.log_stream(call.target.version),
                "client_context": call.client_context,
                "trace_id": call.trace_id,
            }
            answer = await worker.exchange(meta, call.payload, log, on_chunk)
            reusable = answer is not None
            if answer is None:
                return log.timed_out((time.perf_counter() - started) * 1000, worker.max_memory_mb)
            payload, failed, duration_ms = answer
            return log.finish(payload, failed, duration_ms, worker.max_memory_mb)
        except WorkerExited as exc:
            return log.crashed(exc, (time.perf_counter() - started) * 1000, worker.max_memory_mb)
        finally:
            self._busy_workers.discard(worker)
            if reusable and worker.alive and worker.generation == pool.generation:
                worker.idle_since = time.monotonic()
                pool.idle.append(worker)
            else:
                self._reap([worker])

    def _take_idle(self, pool: FunctionPool) -> AnyWorker | None:
        """The most recently used idle worker (the warmest); dead ones are dropped."""
        while pool.idle:
            worker = pool.idle.pop()
            if worker.alive:
                return worker
            self._reap([worker])
        return None

    def _reap(self, workers: list[AnyWorker]) -> None:
        for worker in workers:
            task = asyncio.create_task(worker.kill())
            self._reaping.add(task)
            task.add_done_callback(self._reaping.discard)

    async def close(self) -> None:
        """End every worker (idle and busy) and wait for them."""
        if self._idle_reaper is not None:
            self._idle_reaper.cancel()
            await asyncio.gather(self._idle_reaper, return_exceptions=True)
        workers = list(self._busy_workers)
        for pool in self._pools.values():
            workers.extend(pool.idle)
            pool.idle.clear()
        await asyncio.gather(*(worker.kill() for worker in workers), *self._reaping)
        await self._api.close()


class _LogBuilder:
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

    def finish(self, payload: bytes, failed: bool, duration_ms: float, memory_mb: int) -> Outcome:
        request_id = self._call.request_id
        init = f"Init Duration: {self._init_ms:.2f} ms\t" if self._init_ms is not None else ""
        if not self._parts[-1].endswith("\n"):
            self._parts.append("\n")
        self._parts.append(
            f"END RequestId: {request_id}\n"
            f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
            f"Billed Duration: {math.ceil(duration_ms)} ms\t"
            f"Memory Size: {self._spec.memory_size} MB\t"
            f"Max Memory Used: {memory_mb} MB\t{init}\n"
        )
        return Outcome(payload, failed, self._prefix + "".join(self._parts))

    def timed_out(self, duration_ms: float, memory_mb: int) -> Outcome:
        request_id = self._call.request_id
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        message = f"Task timed out after {self._spec.timeout:.2f} seconds"
        self._parts.append(f"{now} {request_id} {message}\n")
        error = {
            "errorType": "Sandbox.Timedout",
            "errorMessage": f"RequestId: {request_id} Error: {message}",
        }
        return self.finish(json.dumps(error).encode(), True, duration_ms, memory_mb)

    def crashed(self, exc: WorkerExited, duration_ms: float, memory_mb: int) -> Outcome:
        request_id = self._call.request_id
        message = f"RequestId: {request_id} Error: {exc.reason}"
        self._parts.append(f"{message}\nRuntime.ExitError\n")
        error = {"errorType": "Runtime.ExitError", "errorMessage": message}
        return self.finish(json.dumps(error).encode(), True, duration_ms, memory_mb)

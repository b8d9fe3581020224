"""Worker processes: warm execution environments per function, like Lambda's.

Each function has a pool. An invocation takes an idle worker or starts a new one, up to
the function's ``reserved_concurrency`` and the server-wide cap (429 over either). A
worker is a subprocess: the short form's Python worker speaks frames over pipes
(pipe_worker.py), every other runtime talks to the Runtime API (api_worker.py); the event
loop only ever awaits it. A timeout ends the worker, a crash is reported as
``Runtime.ExitError``, and code that changed gets fresh workers on the next invocation
(code_stamp.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

from local_lambda.api_worker import ApiWorker, OnChunk, start_api_worker
from local_lambda.code_stamp import SMALL_TREE, WALK_COST_FACTOR, code_stamp, file_stamp
from local_lambda.code_watch import TreeWatcher, WatchedTree
from local_lambda.environment import worker_environment
from local_lambda.errors import ServiceError, too_many_requests
from local_lambda.functions import FunctionSpec
from local_lambda.invocation import Call, InvocationLog, Outcome, WorkerExited
from local_lambda.pipe_worker import Worker, start_pipe_worker
from local_lambda.runtime_api import RuntimeApi
from local_lambda.runtimes import module_for

DEFAULT_IDLE_TIMEOUT = 600.0
"""Seconds an idle worker is kept warm before it is ended (Lambda keeps them minutes)."""

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
    watcher: TreeWatcher | None = None
    tree: WatchedTree | None = None
    walk_only: bool = False
    tree_stamp: tuple[Any, ...] = ()
    walk_due: float = 0.0

    def check_code(self) -> list[AnyWorker]:
        """Start a new generation if the code changed; return the idle workers to end.

        The short form's handler file: one ``os.stat`` per invocation (microseconds, from
        the inode cache), so an edit shows on the very next invocation. AWS's form: the
        whole ``code`` directory, watched with inotify (``code_watch``: one non-blocking
        read per invocation, an edit shows on the very next one). Where it cannot be
        watched, it is walked: on every invocation while it is small (up to
        ``SMALL_TREE`` files: 12 us for 3 files, 0.7 ms for 200); a larger tree again only
        after ``WALK_COST_FACTOR`` times its last walk's duration (a tree of 2,000 files
        takes 10-70 ms on 2 cores: at most 5% of a core; an edit shows within a second).
        A Python handler's own file is checked on every invocation regardless.
        """
        stamp: Any = file_stamp(self.spec.handler_file) if self.spec.handler_file else None
        if self.spec.handler_file is None or self.spec.handler_text:  # AWS's form
            stamp = (stamp, self._tree_state())
        if stamp == self.code_stamp:
            return []
        self.code_stamp = stamp
        self.generation += 1
        stale, self.idle = self.idle, []
        return stale

    def _tree_state(self) -> Any:
        """What stands for the code directory's contents: the watched tree and its
        version, or the tree's stamp where it is walked. A tree whose root went away is
        watched anew (a build that replaces the directory)."""
        if self.watcher is not None and not self.walk_only:
            if self.tree is None or self.tree.broken:
                self.tree = self.watcher.watch(self.spec.code_dir)
                self.walk_only = self.tree is None
            if self.tree is not None:
                self.watcher.poll()
                return (self.tree, self.tree.version)
        now = time.monotonic()
        if len(self.tree_stamp) <= SMALL_TREE or now >= self.walk_due:
            self.tree_stamp = code_stamp(self.spec.code_dir)
            self.walk_due = now + (time.monotonic() - now) * WALK_COST_FACTOR
        return self.tree_stamp

    async def start_worker(self) -> AnyWorker:
        spec = self.spec
        if spec.uses_runtime_api:
            argv = module_for(spec.runtime).argv(spec)
            return await start_api_worker(
                self.api, argv, self.environment, str(spec.code_dir), self.generation
            )
        return await start_pipe_worker(spec, self.environment, self.generation)


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
        self._watcher = TreeWatcher()
        self._pools = {
            name: FunctionPool(
                spec,
                worker_environment(spec, region, credentials),
                self._api,
                watcher=self._watcher,
            )
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
        log = InvocationLog(call, pool.spec)
        worker = self._take_idle(pool)
        try:
            if worker is None:
                worker = await pool.start_worker()
        except WorkerExited as exc:
            return log.crashed(exc, 0.0, lambda: 0)
        started = time.perf_counter()
        if worker.init_ms is not None:
            log.init(worker.init_log, worker.init_ms)
            worker.init_ms = None
        if worker.init_error is not None:
            self._reap([worker])
            return log.finish(json.dumps(worker.init_error).encode(), True, 0.0, lambda: 0)
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
                elapsed_ms = (time.perf_counter() - started) * 1000
                return log.timed_out(elapsed_ms, worker.peak_memory_mb)
            payload, failed, duration_ms = answer
            return log.finish(payload, failed, duration_ms, worker.peak_memory_mb)
        except WorkerExited as exc:
            return log.crashed(exc, (time.perf_counter() - started) * 1000, worker.peak_memory_mb)
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
        self._watcher.close()

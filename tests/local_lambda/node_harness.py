"""Run the Node.js bootstrap as a real ``node`` process against the Runtime API test peer."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.local_lambda.runtime_api_peer import Invocation, Posted, RuntimeApiPeer

REPO = Path(__file__).resolve().parents[2]
BOOTSTRAP = REPO / "addon" / "local_lambda" / "runtimes" / "node" / "bootstrap.mjs"
FUNCTIONS = REPO / "tests" / "node_functions"
NODE = shutil.which("node")
needs_node = pytest.mark.skipif(
    NODE is None, reason="the Node.js runtime tests need `node` on PATH"
)


@dataclass
class NodeRuntime:
    peer: RuntimeApiPeer
    process: asyncio.subprocess.Process
    log_file: Path

    def log(self) -> str:
        # bytes, not read_text: universal newlines would turn the \r of a multi-line message into \n
        return self.log_file.read_bytes().decode("utf-8", errors="replace")

    async def answer(self, invocation: Invocation, timeout: float = 10.0) -> Posted:
        """What the runtime posted for the invocation (fails if the process exits first)."""
        exited: asyncio.Future[Any] = asyncio.ensure_future(self.process.wait())
        answered: asyncio.Future[Any] = invocation.answer
        try:
            done, _ = await asyncio.wait(
                [answered, exited],
                timeout=timeout,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            exited.cancel()
        if invocation.answer in done:
            return invocation.answer.result()
        raise AssertionError(f"no answer (exit code {self.process.returncode}):\n{self.log()}")

    async def invoke(self, event: object = None, **options: object) -> Posted:
        return await self.answer(self.peer.invoke(event, **options))  # type: ignore[arg-type]

    async def exit_code(self, timeout: float = 10.0) -> int:
        return await asyncio.wait_for(self.process.wait(), timeout)


@asynccontextmanager
async def node_runtime(
    tmp_path: Path, code: str, handler: str, env: dict[str, str] | None = None
) -> AsyncIterator[NodeRuntime]:
    assert NODE is not None
    peer = RuntimeApiPeer()
    address = await peer.start()
    task_root = FUNCTIONS / code
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_LAMBDA_RUNTIME_API": address,
        "_HANDLER": handler,
        "LAMBDA_TASK_ROOT": str(task_root),
        "AWS_LAMBDA_FUNCTION_NAME": "orders",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/orders",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2026/12/01/[$LATEST]abc",
        "AWS_REGION": "us-east-1",
        **(env or {}),
    }
    log_file = tmp_path / f"node-{code}-{handler.replace('/', '_')}.log"
    with log_file.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            NODE,
            str(BOOTSTRAP),
            cwd=task_root,
            env=environment,
            stdout=log,
            stderr=log,
        )
    runtime = NodeRuntime(peer, process, log_file)
    try:
        yield runtime
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await peer.close()

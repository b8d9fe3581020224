"""The signed Invoke call over a pooled asyncio HTTP client.

SKELETON: interface agreed; implementation by the invocation helper.
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import LambdaPluginConfig


@dataclass(frozen=True, slots=True)
class InvokeResult:
    """The Invoke API's answer (status < 400; >= 400 raises LambdaServiceError)."""

    status: int  # 200 RequestResponse, 202 Event, 204 DryRun
    headers: tuple[tuple[str, str], ...]  # as received, repeats kept
    body: bytes
    duration_ms: float
    function_name: str
    qualifier: str | None


class LambdaClient:
    """Invokes functions for every route; one per event loop.

    Connections are pooled per endpoint and shared across client connections; the
    number of invocations in flight is not capped by a small pool.
    """

    def __init__(self, *, verify_tls: bool = True) -> None:
        raise NotImplementedError

    async def invoke(self, plugin: LambdaPluginConfig, payload: bytes) -> InvokeResult:
        """Invoke ``plugin.function_name``. Raises an InvocationError subclass on failure."""
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

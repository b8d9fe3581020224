"""The lean core's client connections: one ``send`` per burst of writes.

mitmproxy answers a client with separate ``SendData`` commands (the head, then the body,
then for chunked bodies each chunk and the end), and each becomes a ``send`` system call of
its own. On loopback a ``send`` is among the dearest steps of a flow: it runs the
receiver's side of TCP too (one send fewer per response saved ~6% of the CPU per
passthrough request, README, Lean core). The lean core gives each client connection a
writer that gathers what one turn of the event loop writes and sends it at the end of that
turn, in one call. Nothing waits longer than that turn; closing, half-closing and
``drain`` send what is gathered first.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any


class CoalescingWriter:
    """An ``asyncio.StreamWriter`` whose writes of one loop turn go out as one."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer
        self._pending: list[bytes] = []
        self._loop = asyncio.get_running_loop()

    def write(self, data: bytes) -> None:
        if not data:
            return
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(data)

    def flush(self) -> None:
        """Send what was gathered (a no-op once the connection is closing)."""
        if not self._pending:
            return
        data = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
        self._pending = []
        if not self._writer.is_closing():
            self._writer.write(data)

    def write_eof(self) -> None:
        self.flush()
        self._writer.write_eof()

    def close(self) -> None:
        self.flush()
        self._writer.close()

    async def drain(self) -> None:
        self.flush()
        await self._writer.drain()

    def is_closing(self) -> bool:
        return self._writer.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._writer.get_extra_info(name, default)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._writer, name)


def coalesce_client_writes(proxyserver: Any) -> None:
    """Give each client connection of ``proxyserver`` (mitmproxy's Proxyserver addon) a
    CoalescingWriter, as the connection is registered, before its handler reads a byte.

    UDP and the Rust-backed modes (WireGuard, local, TUN) keep their own stream objects."""
    register: Callable[[Any, Any], AbstractContextManager[None]] = proxyserver.register_connection

    def register_connection(connection_id: Any, handler: Any) -> AbstractContextManager[None]:
        transport = handler.transports.get(handler.client)
        if transport is not None and isinstance(transport.writer, asyncio.StreamWriter):
            transport.writer = CoalescingWriter(transport.writer)
        return register(connection_id, handler)

    proxyserver.register_connection = register_connection

"""A streaming-mode response on its way from a runtime to the caller.

The Runtime API ``put``s each piece of the body as it arrives and ``end``s it with the error
of the trailers (if any); the invocation iterates over it. At most ``HIGH_WATER`` bytes wait
in between: past that, ``put`` blocks, the Runtime API stops reading the runtime's
connection, and TCP holds the runtime back. A consumer that gives up ``abandon``s it, and
the rest is read and dropped.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

HIGH_WATER = 256 * 1024


class StreamBroken(Exception):
    """The runtime's connection ended before the end of its streamed response."""


class ResponseStream:
    def __init__(self, content_type: str) -> None:
        self.content_type = content_type
        self.error: dict[str, Any] | None = None
        """The error object of the trailers, once the stream has ended with one."""
        self._pieces: deque[bytes] = deque()
        self._queued = 0
        self._ended = False
        self._broken: BaseException | None = None
        self._abandoned = False
        self._readable = asyncio.Event()
        self._writable = asyncio.Event()
        self._writable.set()

    async def put(self, data: bytes) -> None:
        await self._writable.wait()
        if self._abandoned or self._broken is not None or not data:
            return
        self._pieces.append(data)
        self._queued += len(data)
        self._readable.set()
        if self._queued >= HIGH_WATER:
            self._writable.clear()

    def end(self, error: dict[str, Any] | None) -> None:
        self.error = error
        self._ended = True
        self._readable.set()

    def break_off(self, exc: BaseException) -> None:
        """The runtime went away mid-stream: the consumer gets ``exc`` after what is queued."""
        if not self._ended and self._broken is None:
            self._broken = exc
            self._readable.set()
            self._writable.set()

    def abandon(self) -> None:
        self._abandoned = True
        self._pieces.clear()
        self._queued = 0
        self._writable.set()

    def __aiter__(self) -> ResponseStream:
        return self

    async def __anext__(self) -> bytes:
        while True:
            if self._pieces:
                data = self._pieces.popleft()
                self._queued -= len(data)
                if self._queued < HIGH_WATER:
                    self._writable.set()
                return data
            if self._broken is not None:
                raise self._broken
            if self._ended:
                raise StopAsyncIteration
            self._readable.clear()
            await self._readable.wait()

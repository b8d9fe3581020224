"""The request body as the intake endpoint reads it: Content-Length or chunked framing,
kept up to a limit, else dropped or marked refused.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

#: one read from mitmproxy's connection to the endpoint
READ_SIZE = 256 * 1024


class BadRequest(Exception):
    pass


class Sink:
    """Keeps body pieces up to a limit; past it, drops them or marks the body refused."""

    __slots__ = ("_drop", "_keep_up_to", "_parts", "dropped", "refused", "size")

    def __init__(self, keep_up_to: int, drop_over_limit: bool) -> None:
        self._keep_up_to = keep_up_to
        self._drop = drop_over_limit
        self._parts: list[bytes] = []
        self.size = 0
        self.dropped = False
        self.refused = False

    def refuses(self, size: int) -> bool:
        """A body of ``size`` bytes is refused (known from Content-Length before reading)."""
        if size > self._keep_up_to and not self._drop:
            self.refused = True
        return self.refused

    def feed(self, piece: bytes) -> None:
        self.size += len(piece)
        if self.dropped or self.refused:
            return
        if self.size > self._keep_up_to:
            self._parts.clear()
            if self._drop:
                self.dropped = True
            else:
                self.refused = True
            return
        self._parts.append(piece)

    def body(self) -> bytes:
        return b"".join(self._parts)


async def length_pieces(reader: asyncio.StreamReader, length: int) -> AsyncIterator[bytes]:
    while length > 0:
        piece = await reader.read(min(length, READ_SIZE))
        if not piece:
            raise asyncio.IncompleteReadError(b"", length)
        length -= len(piece)
        yield piece


async def chunked_pieces(reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
    while True:
        line = await reader.readuntil(b"\r\n")
        size_text = line.split(b";", 1)[0].strip()
        if not size_text or len(size_text) > 16:
            raise BadRequest(f"bad chunk size line {line[:40]!r}")
        size = int(size_text, 16)
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":
                pass  # trailer fields: not used
            return
        async for piece in length_pieces(reader, size):
            yield piece
        if await reader.readexactly(2) != b"\r\n":
            raise BadRequest("chunk data longer than its size")

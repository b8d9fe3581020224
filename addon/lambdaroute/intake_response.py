"""The intake endpoint's HTTP/1.1 response to mitmproxy: a ``LoopbackAnswer`` with its
Content-Length, a ``StreamedAnswer`` chunked.

A ``StreamedAnswer`` (a Lambda response stream) is written chunked, each piece as it comes;
mitmproxy relays it to the client as it arrives once ``flow.response.stream`` is set in
``responseheaders``. A body that fails (``StreamAborted``) ends with the connection
aborted, no last chunk: mitmproxy then ends the client's response without a clean end
(HTTP/1: the connection closes mid-body; HTTP/2: the stream is reset). Each piece waits for
the socket to drain, so a slow client holds back the stream (bounded memory) instead of
piling it up here.
"""

from __future__ import annotations

import asyncio

from .intake_body import READ_SIZE
from .intake_types import LoopbackAnswer, StreamAborted, StreamedAnswer

_FRAMING = frozenset({b"content-length", b"transfer-encoding", b"connection"})


def write_answer(writer: asyncio.StreamWriter, method: str, answer: LoopbackAnswer) -> None:
    """The answer as an HTTP/1.1 response: its own framing, one request per connection."""
    no_body = _no_body(answer.status)
    framing = b"" if no_body else f"Content-Length: {len(answer.body)}".encode()
    writer.write(_head(answer.status, answer.reason, answer.headers, framing))
    if answer.body and not no_body and method != "HEAD":
        writer.write(answer.body)


async def relay_answer(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, method: str, answer: StreamedAnswer
) -> None:
    """Write a streamed answer chunked, each piece as soon as the body yields it; stop
    when mitmproxy closes the connection (its client went away), also while the body is
    waiting for its next piece."""
    body = answer.body
    pump = asyncio.ensure_future(_pump(writer, method, answer))
    gone = asyncio.ensure_future(_closed_by_peer(reader))
    try:
        await asyncio.wait((pump, gone), return_when=asyncio.FIRST_COMPLETED)
        if not pump.done():
            pump.cancel()
        try:
            await pump
        except asyncio.CancelledError:
            if not gone.done():
                raise  # we are being cancelled ourselves
    finally:
        gone.cancel()
        pump.cancel()
        await body.aclose()


async def _pump(writer: asyncio.StreamWriter, method: str, answer: StreamedAnswer) -> None:
    has_body = not _no_body(answer.status) and method != "HEAD"
    framing = b"Transfer-Encoding: chunked" if has_body else b""
    writer.write(_head(answer.status, answer.reason, answer.headers, framing))
    await writer.drain()
    if not has_body:
        return
    try:
        async for piece in answer.body:
            if piece:
                writer.writelines((b"%x\r\n" % len(piece), piece, b"\r\n"))
                await writer.drain()
    except StreamAborted:
        writer.transport.abort()
        return
    writer.write(b"0\r\n\r\n")
    await writer.drain()


async def _closed_by_peer(reader: asyncio.StreamReader) -> None:
    """Returns once mitmproxy closed the connection (it sends nothing after the request)."""
    try:
        while await reader.read(READ_SIZE):
            pass
    except ConnectionError:
        pass


def _no_body(status: int) -> bool:
    return status in (204, 304) or status < 200


def _head(status: int, reason: str, headers: tuple[tuple[str, str], ...], framing: bytes) -> bytes:
    lines = [f"HTTP/1.1 {status} {reason}".encode("ascii", "replace")]
    for name, value in headers:
        raw_name = name.encode("utf-8", "surrogateescape")
        if raw_name.lower() not in _FRAMING:
            lines.append(raw_name + b": " + value.encode("utf-8", "surrogateescape"))
    if framing:
        lines.append(framing)
    lines.append(b"Connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n"

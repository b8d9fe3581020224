"""The lean core's coalescing client writer, over a real loopback connection."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import SimpleNamespace

from lambdaroute.lean_writes import CoalescingWriter, coalesce_client_writes


@asynccontextmanager
async def connection() -> AsyncIterator[tuple[CoalescingWriter, list[bytes], asyncio.StreamReader]]:
    """A CoalescingWriter over a client connection, the bytes each underlying ``write``
    got, and the server side's reader."""
    accepted: asyncio.Queue[asyncio.StreamReader] = asyncio.Queue()

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await accepted.put(reader)
        await asyncio.sleep(30)  # keeps the server side open

    server = await asyncio.start_server(on_client, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    _, stream_writer = await asyncio.open_connection("127.0.0.1", port)
    sent: list[bytes] = []
    write = stream_writer.write

    def recording_write(data: bytes) -> None:
        sent.append(bytes(data))
        write(data)

    stream_writer.write = recording_write  # type: ignore[method-assign]
    peer = await asyncio.wait_for(accepted.get(), 5)
    try:
        yield CoalescingWriter(stream_writer), sent, peer
    finally:
        stream_writer.close()
        server.close()


async def test_the_writes_of_one_loop_turn_go_out_as_one() -> None:
    async with connection() as (writer, sent, peer):
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n")
        writer.write(b"")
        writer.write(b"hello")
        assert sent == []  # nothing before the end of this turn
        await asyncio.sleep(0)
        assert sent == [b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello"]
        assert await asyncio.wait_for(peer.readexactly(43), 5) == sent[0]
        writer.write(b"next")  # a later turn: a send of its own
        await asyncio.sleep(0)
        assert sent[1:] == [b"next"]


async def test_drain_close_and_eof_send_what_is_gathered_first() -> None:
    async with connection() as (writer, sent, peer):
        writer.write(b"a")
        await writer.drain()
        assert sent == [b"a"]
        writer.write(b"b")
        writer.write_eof()
        assert sent == [b"a", b"b"]
        assert await asyncio.wait_for(peer.read(), 5) == b"ab"  # then the end of the stream
    async with connection() as (writer, sent, peer):
        writer.write(b"last words")
        writer.close()
        assert sent == [b"last words"]
        assert await asyncio.wait_for(peer.read(), 5) == b"last words"
        assert writer.is_closing()
        writer.write(b"after close")  # dropped, as mitmproxy drops writes to a closing writer
        await asyncio.sleep(0)
        assert sent == [b"last words"]


async def test_extra_info_comes_from_the_connection() -> None:
    async with connection() as (writer, _, _peer):
        assert writer.get_extra_info("peername")[0] == "127.0.0.1"
        assert writer.get_extra_info("no such thing", "default") == "default"
        assert writer.transport is not None  # anything else: the StreamWriter's own


async def test_client_connections_get_the_writer_as_they_register() -> None:
    registered: list[tuple[object, object]] = []

    class Proxyserver:
        def register_connection(self, connection_id: object, handler: object) -> str:
            registered.append((connection_id, handler))
            return "context manager"

    async with connection() as (coalescing, _, _peer):
        stream_writer = coalescing._writer
        client = object()
        handler = SimpleNamespace(
            client=client, transports={client: SimpleNamespace(writer=stream_writer)}
        )
        rust_stream = object()  # UDP and the Rust-backed modes keep their own objects
        other = SimpleNamespace(
            client=client, transports={client: SimpleNamespace(writer=rust_stream)}
        )
        server = Proxyserver()
        coalesce_client_writes(server)
        assert server.register_connection("id", handler) == "context manager"
        assert isinstance(handler.transports[client].writer, CoalescingWriter)
        server.register_connection("id2", other)
        assert other.transports[client].writer is rust_stream
        assert registered == [("id", handler), ("id2", other)]

"""The server's Runtime API on the wire, in process: streaming-mode responses (chunked body,
error trailers) reach the invocation piece by piece, a cut-off stream is reported, curl's
``Expect: 100-continue`` is honoured, bad requests get 400, and a slow consumer holds the
runtime back instead of letting the stream pile up."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest

from local_lambda.response_stream import HIGH_WATER, ResponseStream, StreamBroken
from local_lambda.runtime_api import Invocation, RuntimeSession
from tests.local_lambda.runtime_api_wire import BASE, connect


async def read_answer(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = next(
        int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length")
    )
    return int(lines[0].split()[1]), await reader.readexactly(length)


def dispatch(session: RuntimeSession) -> Invocation:
    invocation = Invocation("req-1", b"{}", {"Lambda-Runtime-Aws-Request-Id": "req-1"})
    session.dispatch(invocation)
    return invocation


STREAM_HEAD = (
    f"POST {BASE}/invocation/req-1/response HTTP/1.1\r\nHost: x\r\n"
    "Lambda-Runtime-Function-Response-Mode: streaming\r\nTransfer-Encoding: chunked\r\n"
    "Trailer: Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body\r\n"
    "Content-Type: text/plain\r\n\r\n"
).encode()


async def test_streamed_pieces_arrive_one_by_one_and_trailers_carry_the_error(
    session: RuntimeSession,
) -> None:
    invocation = dispatch(session)
    reader, writer = await connect(session)
    writer.write(STREAM_HEAD + b"5\r\nhello\r\n")
    result = await asyncio.wait_for(invocation.result, 5)
    assert result.stream is not None and result.stream.content_type == "text/plain"
    pieces = aiter(result.stream)
    assert await asyncio.wait_for(anext(pieces), 5) == b"hello"  # before the body has ended
    error = base64.b64encode(json.dumps({"errorMessage": "boom", "errorType": "Oops"}).encode())
    writer.write(
        b"6\r\n world\r\n0\r\nLambda-Runtime-Function-Error-Type: Oops\r\n"
        b"Lambda-Runtime-Function-Error-Body: " + error + b"\r\n\r\n"
    )
    assert await asyncio.wait_for(anext(pieces), 5) == b" world"
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(anext(pieces), 5)
    assert result.stream.error == {"errorMessage": "boom", "errorType": "Oops"}
    assert await read_answer(reader) == (202, b'{"status":"OK"}\n')
    # keep-alive: the same connection serves the next request (a second answer is refused)
    writer.write(f"POST {BASE}/invocation/req-1/response HTTP/1.1\r\nHost: x\r\n".encode())
    writer.write(b"Content-Length: 2\r\n\r\n{}")
    status, body = await read_answer(reader)
    assert status == 400 and b"InvalidRequestID" in body
    writer.close()


async def test_a_stream_cut_off_by_the_runtime_is_broken(session: RuntimeSession) -> None:
    invocation = dispatch(session)
    _, writer = await connect(session)
    writer.write(STREAM_HEAD + b"3\r\nabc\r\n")
    result = await asyncio.wait_for(invocation.result, 5)
    assert result.stream is not None
    pieces = aiter(result.stream)
    assert await asyncio.wait_for(anext(pieces), 5) == b"abc"
    writer.close()
    with pytest.raises(StreamBroken):
        await asyncio.wait_for(anext(pieces), 5)


async def test_expect_100_continue_and_bad_requests(session: RuntimeSession) -> None:
    invocation = dispatch(session)
    reader, writer = await connect(session)
    body = b'"' + b"x" * 2000 + b'"'
    writer.write(
        f"POST {BASE}/invocation/req-1/response HTTP/1.1\r\nHost: x\r\n"
        f"Expect: 100-continue\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    )
    await writer.drain()
    interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert interim.startswith(b"HTTP/1.1 100 ")
    writer.write(body)
    assert await read_answer(reader) == (202, b'{"status":"OK"}\n')
    assert (await invocation.result).payload == body
    writer.close()

    reader, writer = await connect(session)
    writer.write(b"NOT HTTP AT ALL\r\n\r\n")
    status, _ = await read_answer(reader)
    assert status == 400
    assert await reader.read() == b""  # and the connection is closed


async def test_a_slow_consumer_holds_the_producer_back() -> None:
    stream = ResponseStream("application/octet-stream")
    piece = b"x" * 65536
    written = 0

    async def produce() -> None:
        nonlocal written
        for _ in range(64):  # 4 MiB, far over the high-water mark
            await stream.put(piece)
            written += len(piece)
        stream.end(None)

    producer = asyncio.create_task(produce())
    await asyncio.sleep(0.05)
    assert HIGH_WATER <= written < HIGH_WATER + len(piece) + 1  # blocked, nothing consumed
    total = 0
    async for data in stream:
        total += len(data)
    await producer
    assert total == 64 * len(piece)

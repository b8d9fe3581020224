"""The Runtime API's HTTP/1.1 server on the wire, in process: pipelined requests (the 202 of a
response held and sent with the next invocation), keep-alive and its end, and the framing
corners its hand-written parser must get right (bare LF lines, folded headers, bad lengths)."""

from __future__ import annotations

import asyncio

import pytest

from local_lambda.runtime_api import Invocation, RuntimeSession
from tests.local_lambda.runtime_api_wire import BASE, connect


async def read_answer(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    lines = head.decode("latin-1").split("\r\n")
    headers = {
        name.strip().lower(): value.strip()
        for name, _, value in (line.partition(":") for line in lines[1:] if line)
    }
    body = await reader.readexactly(int(headers["content-length"]))
    return int(lines[0].split()[1]), headers, body


def dispatch(session: RuntimeSession, request_id: str, payload: bytes = b"{}") -> Invocation:
    invocation = Invocation(request_id, payload, {"Lambda-Runtime-Aws-Request-Id": request_id})
    session.dispatch(invocation)
    return invocation


def post(request_id: str, body: bytes, *, newline: str = "\r\n") -> bytes:
    head = [f"POST {BASE}/invocation/{request_id}/response HTTP/1.1", "Host: x"]
    head += [f"Content-Length: {len(body)}", "", ""]
    return newline.join(head).encode() + body


NEXT = f"GET {BASE}/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n".encode()


async def test_a_response_pipelined_with_the_next_request(session: RuntimeSession) -> None:
    first = dispatch(session, "req-1", b'{"n": 1}')
    reader, writer = await connect(session)
    writer.write(NEXT)
    status, headers, body = await read_answer(reader)
    assert (status, headers["lambda-runtime-aws-request-id"], body) == (200, "req-1", b'{"n": 1}')
    writer.write(post("req-1", b'"one"') + NEXT)  # one write, as our Node.js bootstrap sends
    assert (await asyncio.wait_for(first.result, 5)).payload == b'"one"'
    dispatch(session, "req-2", b'{"n": 2}')
    # the 202 (held while /next waited) comes first, then the next invocation
    assert (await read_answer(reader))[0::2] == (202, b'{"status":"OK"}\n')
    status, headers, body = await read_answer(reader)
    assert (status, headers["lambda-runtime-aws-request-id"], body) == (200, "req-2", b'{"n": 2}')
    writer.close()


async def test_bare_lf_lines_folded_headers_and_http_1_0(session: RuntimeSession) -> None:
    invocation = dispatch(session, "req-1")
    reader, writer = await connect(session)
    writer.write(f"GET {BASE}/invocation/next HTTP/1.1\nHost: x\nX-Folded: a\n  b\n\n".encode())
    assert (await read_answer(reader))[0] == 200
    writer.write(post("req-1", b'"lf"', newline="\n"))
    status, headers, _ = await read_answer(reader)
    assert status == 202 and "connection" not in headers  # kept alive
    assert (await invocation.result).payload == b'"lf"'
    writer.write(f"GET {BASE}/invocation/unknown HTTP/1.0\r\n\r\n".encode())
    status, headers, _ = await read_answer(reader)
    assert (status, headers["connection"]) == (404, "close")
    assert await reader.read() == b""  # HTTP/1.0: closed after the answer
    writer.close()


@pytest.mark.parametrize(
    "request_head",
    [
        b"POST /x HTTP/1.1\r\nContent-Length: ten\r\n\r\n",
        b"POST /x HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
        b"GET /x HTTP/1.1\r\nNo colon here\r\n\r\n",
        b"GET /x HTTP/2.0\r\n\r\n",
    ],
)
async def test_malformed_requests_get_400_and_a_closed_connection(
    session: RuntimeSession, request_head: bytes
) -> None:
    reader, writer = await connect(session)
    writer.write(request_head)
    status, headers, _ = await read_answer(reader)
    assert (status, headers["connection"]) == (400, "close")
    assert await reader.read() == b""
    writer.close()


async def test_a_malformed_chunk_breaks_the_body(session: RuntimeSession) -> None:
    invocation = dispatch(session, "req-1")
    reader, writer = await connect(session)
    writer.write(
        f"POST {BASE}/invocation/req-1/response HTTP/1.1\r\nHost: x\r\n"
        "Transfer-Encoding: chunked\r\n\r\n3\r\nabcXX\r\n".encode()
    )
    assert await asyncio.wait_for(reader.read(), 5) == b""  # closed, no answer
    assert not invocation.result.done()
    writer.close()

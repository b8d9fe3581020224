"""A lean loopback HTTP/1.1 server that answers fixed bytes: the benchmark's peers.

``--role upstream`` answers every request with the body file (what mitmdump A proxies to).
``--role lambda`` answers like the Lambda Invoke API: ``POST
/2015-03-31/functions/<name>/invocations`` with an ``Authorization`` header gets 200 and the
headers Invoke sends; anything else gets Invoke's error shapes. Signatures are not verified:
this is a benchmark peer, not an emulator (addon/local_lambda is that).

Raw ``asyncio.Protocol`` so that the peer costs as little CPU as possible on a 2-core box.
Prints ``LISTENING <port>`` on stdout once it accepts connections; runs until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import re
import signal
from collections.abc import Callable
from pathlib import Path

INVOKE_PATH = re.compile(rb"^/2015-03-31/functions/[^/?]+/invocations(?:\?|$)")
ERROR_BODIES = {
    403: (b"MissingAuthenticationTokenException", b'{"message":"Missing Authentication Token"}'),
    404: (b"ResourceNotFoundException", b'{"Type":"User","Message":"Function not found"}'),
}
_request_ids = itertools.count(1)

#: (method, target, headers as lower-case name -> value, body) -> the whole response
Responder = Callable[[bytes, bytes, dict[bytes, bytes], bytes], bytes]


def http_response(status: int, reason: bytes, headers: list[bytes], body: bytes) -> bytes:
    head = [b"HTTP/1.1 %d %s" % (status, reason), *headers, b"Content-Length: %d" % len(body)]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


def upstream_responder(body: bytes) -> Responder:
    fixed = http_response(200, b"OK", [b"Content-Type: application/json"], body)
    return lambda _method, _target, _headers, _body: fixed


def lambda_responder(body: bytes) -> Responder:
    ok_head = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Amz-Executed-Version: $LATEST\r\n"
    )
    ok_tail = b"Content-Length: %d\r\n\r\n" % len(body) + body

    def respond(method: bytes, target: bytes, headers: dict[bytes, bytes], _body: bytes) -> bytes:
        request_id = b"x-amzn-RequestId: 00000000-0000-4000-8000-%012d\r\n" % next(_request_ids)
        if method != b"POST" or not INVOKE_PATH.match(target):
            return _error(404, request_id)
        if b"authorization" not in headers:
            return _error(403, request_id)
        return ok_head + request_id + ok_tail

    return respond


def _error(status: int, request_id_line: bytes) -> bytes:
    error_type, body = ERROR_BODIES[status]
    reason = b"Forbidden" if status == 403 else b"Not Found"
    headers = [b"Content-Type: application/json", b"x-amzn-ErrorType: " + error_type]
    return http_response(status, reason, [*headers, request_id_line.rstrip()], body)


class PeerProtocol(asyncio.Protocol):
    """Keep-alive HTTP/1.1 with Content-Length or chunked request bodies; in-order answers."""

    def __init__(self, respond: Responder, delay: float) -> None:
        self.respond = respond
        self.delay = delay
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        #: the parsed head of a request whose body has not fully arrived yet
        self.pending: tuple[bytes, bytes, dict[bytes, bytes]] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.transport is not None:
            if self.pending is None:
                end = self.buffer.find(b"\r\n\r\n")
                if end < 0:
                    return
                self.pending = _parse_head(bytes(self.buffer[:end]))
                del self.buffer[: end + 4]
            body = self._take_body(self.pending[2])
            if body is None:
                return
            method, target, headers = self.pending
            self.pending = None
            answer = self.respond(method, target, headers, body)
            close = headers.get(b"connection", b"").lower() == b"close"
            if self.delay:
                asyncio.get_running_loop().call_later(self.delay, self._send, answer, close)
            else:
                self._send(answer, close)

    def _take_body(self, headers: dict[bytes, bytes]) -> bytes | None:
        if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
            return self._take_chunked()
        length = int(headers.get(b"content-length", b"0"))
        if len(self.buffer) < length:
            return None
        body = bytes(self.buffer[:length])
        del self.buffer[:length]
        return body

    def _take_chunked(self) -> bytes | None:
        chunks: list[bytes] = []
        position = 0
        while True:
            line_end = self.buffer.find(b"\r\n", position)
            if line_end < 0:
                return None
            size = int(bytes(self.buffer[position:line_end]).split(b";")[0], 16)
            start = line_end + 2
            if size == 0:
                trailer_end = self.buffer.find(b"\r\n\r\n", line_end)
                if trailer_end < 0:
                    return None
                del self.buffer[: trailer_end + 4]
                return b"".join(chunks)
            if len(self.buffer) < start + size + 2:
                return None
            chunks.append(bytes(self.buffer[start : start + size]))
            position = start + size + 2

    def _send(self, answer: bytes, close: bool) -> None:
        if self.transport is None:
            return
        self.transport.write(answer)
        if close:
            self.transport.close()


def _parse_head(head: bytes) -> tuple[bytes, bytes, dict[bytes, bytes]]:
    request_line, *header_lines = head.split(b"\r\n")
    method, target, _version = request_line.split(b" ", 2)
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    return method, target, headers


async def serve(role: str, body: bytes, delay: float, port: int) -> None:
    respond = lambda_responder(body) if role == "lambda" else upstream_responder(body)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: PeerProtocol(respond, delay), "127.0.0.1", port, backlog=4096
    )
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    print(f"LISTENING {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--role", choices=("upstream", "lambda"), required=True)
    parser.add_argument("--body-file", type=Path, required=True, help="the bytes to answer")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    asyncio.run(serve(args.role, args.body_file.read_bytes(), args.delay, args.port))


if __name__ == "__main__":
    main()

"""The intake endpoint on its own: tokens, framing, and the body bounds."""

from __future__ import annotations

import asyncio

from lambdaroute.intake import IntakeEndpoint
from lambdaroute.intake_types import (
    TOKEN_HEADER,
    LoopbackAnswer,
    PendingWork,
    ReceivedBody,
)


class Recorder:
    def __init__(self, keep_up_to: int, drop: bool) -> None:
        self.bodies: list[ReceivedBody] = []
        self.refused: list[int | None] = []
        self.arrived = 0
        self.work = PendingWork(keep_up_to, drop, self._arrived, self._answer, self._refuse)

    def _arrived(self) -> None:
        self.arrived += 1

    async def _answer(self, body: ReceivedBody) -> LoopbackAnswer:
        self.bodies.append(body)
        return LoopbackAnswer(200, "OK", (("X-Got", str(body.size)),), b"done")

    def _refuse(self, size: int | None) -> LoopbackAnswer:
        self.refused.append(size)
        return LoopbackAnswer(413, "Payload Too Large", (), b"{}")


async def exchange(port: int, head: bytes, body_pieces: list[bytes]) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head)
    for piece in body_pieces:
        writer.write(piece)
        await writer.drain()
    answer = await reader.read()  # the endpoint closes after one answer
    writer.close()
    return answer


def chunked(pieces: list[bytes]) -> list[bytes]:
    return [b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces] + [b"0\r\n\r\n"]


async def test_unknown_token_is_refused_and_nothing_is_called() -> None:
    endpoint = IntakeEndpoint()
    await endpoint.start()
    recorder = Recorder(100, drop=True)
    endpoint.register(recorder.work)
    assert endpoint.port is not None
    answer = await exchange(
        endpoint.port, f"GET / HTTP/1.1\r\n{TOKEN_HEADER}: nope\r\n\r\n".encode(), []
    )
    endpoint.close()
    assert answer.startswith(b"HTTP/1.1 403")
    assert recorder.arrived == 0 and not recorder.bodies


async def test_chunked_body_is_kept_within_the_limit() -> None:
    endpoint = IntakeEndpoint()
    await endpoint.start()
    recorder = Recorder(100, drop=True)
    token = endpoint.register(recorder.work)
    assert endpoint.port is not None
    head = f"POST /x HTTP/1.1\r\n{TOKEN_HEADER}: {token}\r\nTransfer-Encoding: chunked\r\n\r\n"
    answer = await exchange(endpoint.port, head.encode(), chunked([b"abc", b"defg"]))
    endpoint.close()
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"X-Got: 7\r\n" in answer and answer.endswith(b"\r\n\r\ndone")
    assert recorder.bodies == [ReceivedBody(b"abcdefg", 7, False)]
    assert recorder.arrived == 1


async def test_over_the_limit_is_dropped_or_refused_early() -> None:
    endpoint = IntakeEndpoint()
    await endpoint.start()
    assert endpoint.port is not None
    dropping, refusing, refusing_chunked = (
        Recorder(10, True),
        Recorder(10, False),
        Recorder(10, False),
    )
    big = [b"x" * 8] * 4
    for recorder, framing, pieces in (
        (dropping, "Content-Length: 32", big),
        (refusing, "Content-Length: 32", big),
        (refusing_chunked, "Transfer-Encoding: chunked", chunked(big)),
    ):
        token = endpoint.register(recorder.work)
        head = f"POST /x HTTP/1.1\r\n{TOKEN_HEADER}: {token}\r\n{framing}\r\n\r\n".encode()
        answer = await exchange(endpoint.port, head, pieces)
        status = 200 if recorder is dropping else 413
        assert answer.startswith(f"HTTP/1.1 {status}".encode())
    endpoint.close()
    assert dropping.bodies == [ReceivedBody(b"", 32, True)]
    assert refusing.refused == [32] and not refusing.bodies  # from Content-Length, at once
    assert refusing_chunked.refused == [None] and not refusing_chunked.bodies

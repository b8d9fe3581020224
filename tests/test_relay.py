"""The relay on its own (``relay.open_relay`` / ``RelayedStream.body``) against a real
loopback server writing event-stream frames: what is an error before the first byte,
what aborts the stream after it, and what the progress records."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from lambdaroute.errors import InvokeTimeoutError
from lambdaroute.intake_types import StreamAborted
from lambdaroute.relay import RelayedStream, RelayProgress, StreamFunctionError, open_relay
from lambdaroute.streaming.invoke import LambdaStreamClient, ResponseStreamError
from tests import eventstream_frames as frames
from tests.test_streaming_invoke import StreamingLambda, plugin

PRELUDE = json.dumps({"statusCode": 418, "headers": {"x-a": "1"}, "cookies": ["c=1"]}).encode()


@pytest.fixture
async def server() -> AsyncIterator[StreamingLambda]:
    lam = await StreamingLambda().start()
    yield lam
    await lam.close()


@pytest.fixture
async def client() -> AsyncIterator[LambdaStreamClient]:
    streams = LambdaStreamClient()
    yield streams
    await streams.close()


async def relay_all(
    server: StreamingLambda, client: LambdaStreamClient, name: str, **changes: object
) -> tuple[RelayedStream, list[bytes], RelayProgress, bool]:
    relayed = await open_relay(client, plugin(server, name, **changes), b"{}")
    ended: list[RelayProgress] = []
    pieces: list[bytes] = []
    aborted = False
    try:
        async for piece in relayed.body(ended.append):
            pieces.append(piece)
    except StreamAborted:
        aborted = True
    assert len(ended) == 1
    return relayed, pieces, ended[0], aborted


async def test_prelude_split_over_chunks_gives_the_head(
    server: StreamingLambda, client: LambdaStreamClient
) -> None:
    async def script(response: web.StreamResponse) -> None:
        await response.write(frames.chunk(PRELUDE[:5]))
        await response.write(frames.chunk(PRELUDE[5:] + b"\0" * 5))
        await response.write(frames.chunk(b"\0" * 3 + b"body;"))
        await response.write(frames.chunk(b"more"))
        await response.write(frames.complete(log_result=base64.b64encode(b"log").decode()))

    server.scripts["split"] = script
    relayed, pieces, progress, aborted = await relay_all(server, client, "split")
    assert relayed.head.status == 418
    assert ("set-cookie", "c=1") in relayed.head.headers
    assert b"".join(pieces) == b"body;more" and not aborted
    assert progress.outcome == "complete" and progress.chunks == 4
    assert progress.bytes == 9 and progress.first_byte_ms is not None
    assert progress.function_logs == "log"


async def test_function_error_before_the_first_byte_is_a_gateway_error(
    server: StreamingLambda, client: LambdaStreamClient
) -> None:
    async def script(response: web.StreamResponse) -> None:
        details = json.dumps({"errorType": "Boom", "errorMessage": "no", "trace": ["at f"]})
        await response.write(frames.complete("Unhandled", details, base64.b64encode(b"L").decode()))

    server.scripts["early"] = script
    with pytest.raises(StreamFunctionError) as info:
        await open_relay(client, plugin(server, "early", unhandled_status=599), b"{}")
    error = info.value
    assert error.status_code == 599
    assert (error.failure.error_type, error.failure.error_message) == ("Boom", "no")
    assert error.failure.stack_trace == ("at f",)
    assert error.function_logs == "L"


async def test_silence_before_the_first_chunk_is_a_timeout(
    server: StreamingLambda, client: LambdaStreamClient
) -> None:
    async def script(response: web.StreamResponse) -> None:
        await asyncio.sleep(2)

    server.scripts["silent"] = script
    with pytest.raises(InvokeTimeoutError):
        await open_relay(client, plugin(server, "silent", timeout=200), b"{}")


async def test_a_broken_stream_before_the_first_chunk_is_a_502(
    server: StreamingLambda, client: LambdaStreamClient
) -> None:
    async def script(response: web.StreamResponse) -> None:
        await response.write(frames.exception("ServiceException", "inside"))

    server.scripts["broken"] = script
    with pytest.raises(ResponseStreamError) as info:
        await open_relay(client, plugin(server, "broken"), b"{}")
    assert info.value.status_code == 502


@pytest.mark.parametrize("ending", ["error", "silence", "exception"])
async def test_failures_after_the_first_byte_abort_the_body(
    server: StreamingLambda, client: LambdaStreamClient, ending: str
) -> None:
    async def script(response: web.StreamResponse) -> None:
        await response.write(frames.chunk(b"partial"))
        if ending == "error":
            await response.write(frames.complete("RangeError", "broke mid-stream"))
        elif ending == "silence":
            await asyncio.sleep(2)
        else:
            await response.write(frames.exception("ServiceException", "gone"))

    server.scripts["mid"] = script
    relayed, pieces, progress, aborted = await relay_all(server, client, "mid", timeout=300)
    assert pieces == [b"partial"] and aborted
    assert relayed.head.status == 200
    assert relayed.head.headers == (("content-type", "application/octet-stream"),)
    if ending == "error":
        assert progress.outcome == "function error"
        assert progress.failure is not None
        assert progress.failure.error_type == "RangeError"
        assert progress.failure.error_message == "broke mid-stream"
    else:
        assert progress.outcome == "broken"
        assert progress.error_code == ("Timeout" if ending == "silence" else "ServiceException")


async def test_dry_run_is_a_204(server: StreamingLambda, client: LambdaStreamClient) -> None:
    relayed, pieces, progress, aborted = await relay_all(
        server, client, "any", invocation_type="DryRun"
    )
    assert relayed.head.status == 204 and pieces == [] and not aborted
    assert progress.outcome == "complete"

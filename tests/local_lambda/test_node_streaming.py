"""Streaming handlers (awslambda.streamifyResponse) against a Runtime API peer: the response
goes out in the Runtime API's streaming mode, each write as a chunk when it happens, and an
error after the first byte as trailers."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path

from tests.local_lambda.node_harness import needs_node, node_runtime

pytestmark = needs_node

STREAMING_HEADERS = {
    "lambda-runtime-function-response-mode": "streaming",
    "transfer-encoding": "chunked",
}


async def test_each_write_arrives_when_it_happens(tmp_path: Path) -> None:
    async with node_runtime(tmp_path, "streaming", "index.chunks") as node:
        invocation = node.peer.invoke({"delay": 1000})
        received_at, first = await asyncio.wait_for(invocation.chunk_queue.get(), 10)
        # the first chunk is here while the handler still sleeps before the second one
        assert first == b"first chunk;"
        assert not invocation.answer.done()
        posted = await node.answer(invocation)
        assert posted.kind == "response"
        assert STREAMING_HEADERS.items() <= posted.headers.items()
        assert posted.headers["content-type"] == "application/octet-stream"
        assert [data for _, data in posted.chunks] == [b"first chunk;", b"second chunk"]
        assert posted.chunks[1][0] - received_at > 0.5
        assert posted.trailers == {}
        # the process serves the next invocation
        assert (await node.invoke({"delay": 0})).body == b"first chunk;second chunk"


async def test_http_response_stream_prelude(tmp_path: Path) -> None:
    async with node_runtime(tmp_path, "streaming", "index.http") as node:
        posted = await node.invoke({})
        assert posted.headers["content-type"] == (
            "application/vnd.awslambda.http-integration-response"
        )
        prelude, _, body = posted.body.partition(b"\x00" * 8)
        assert json.loads(prelude) == {
            "statusCode": 201,
            "headers": {"Content-Type": "text/plain", "X-Custom": "yes"},
            "cookies": ["a=1"],
        }
        assert body == b"hello"


async def test_error_after_the_first_byte_goes_out_as_trailers(tmp_path: Path) -> None:
    async with node_runtime(tmp_path, "streaming", "index.failsMidStream") as node:
        posted = await node.invoke({})
        assert posted.kind == "response"
        assert posted.body == b"partial"
        assert posted.trailers["lambda-runtime-function-error-type"] == "RangeError"
        error = json.loads(base64.b64decode(posted.trailers["lambda-runtime-function-error-body"]))
        assert error["errorType"] == "RangeError"
        assert error["errorMessage"] == "broke mid-stream"
        assert error["trace"][0] == "RangeError: broke mid-stream"
        assert "\tERROR\tInvoke Error \t{" in node.log()
        assert (await node.invoke({})).trailers  # still serving


async def test_error_before_the_first_byte_is_an_invocation_error(tmp_path: Path) -> None:
    async with node_runtime(tmp_path, "streaming", "index.failsBeforeStart") as node:
        posted = await node.invoke({})
        assert posted.kind == "error"
        assert posted.headers["lambda-runtime-function-error-type"] == "RangeError"
        assert posted.json()["errorMessage"] == "broke before the first byte"


async def test_pipeline_content_type_and_object_writes(tmp_path: Path) -> None:
    async with node_runtime(tmp_path, "streaming", "index.piped") as node:
        posted = await node.invoke({})
        assert posted.headers["content-type"] == "text/csv"
        assert posted.body == b"a,b\n1,2\n"
        assert posted.trailers == {}
    async with node_runtime(tmp_path, "streaming", "index.objects") as node:
        assert (await node.invoke({})).body == b'{"json":true}'
    async with node_runtime(tmp_path, "streaming", "index.highWaterMark") as node:
        assert (await node.invoke({})).body == b"1234"


async def test_misused_streams_are_reported_not_hung(tmp_path: Path) -> None:
    async with node_runtime(tmp_path, "streaming", "index.unfinished") as node:
        posted = await node.invoke({})
        assert posted.body == b"never ended"
        trailer_type = posted.trailers["lambda-runtime-function-error-type"]
        assert trailer_type == "Runtime.InvalidStreamingOperation"
    async with node_runtime(tmp_path, "streaming", "index.notAsync") as node:
        posted = await node.invoke({})
        error_type = posted.trailers.get("lambda-runtime-function-error-type") or (
            posted.headers.get("lambda-runtime-function-error-type")
        )
        assert error_type == "Runtime.MalformedStreamingHandler"


async def test_prelude_without_body(tmp_path: Path) -> None:
    async with node_runtime(tmp_path, "streaming", "index.emptyHttp") as node:
        posted = await node.invoke({})
        assert posted.body == b'{"statusCode":204}' + b"\x00" * 8


async def test_awslambda_global_can_be_turned_off(tmp_path: Path) -> None:
    async with node_runtime(tmp_path, "globals", "index.handler") as node:
        assert (await node.invoke({})).json() == {"awslambda": "object"}
    off = {"AWS_LAMBDA_NODEJS_NO_GLOBAL_AWSLAMBDA": "1"}
    async with node_runtime(tmp_path, "globals", "index.handler", off) as node:
        assert (await node.invoke({})).json() == {"awslambda": "undefined"}

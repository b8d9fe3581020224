"""InvokeWithResponseStream against the real local server, read by botocore's own
``invoke_with_response_stream``: Node.js streamifyResponse handlers, a custom runtime in the
Runtime API's streaming mode (chunked body, error trailers), Python handlers (one chunk),
errors before and during the stream, timeouts, crashes, Tail logs, DryRun, AWS errors."""

from __future__ import annotations

import base64
import json
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.local_lambda.node_harness import FUNCTIONS, needs_node
from tests.local_lambda_fixtures import LocalLambdaServer, lambda_client, start_local_lambda

pytestmark = [pytest.mark.e2e, needs_node]
FIXTURES = Path(__file__).resolve().parent / "runtime_fixtures"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalLambdaServer]:
    root = tmp_path_factory.mktemp("stream-functions")
    shutil.copytree(FUNCTIONS / "stream_cases", root / "node")
    shutil.copytree(FIXTURES / "stream_custom", root / "custom")
    shutil.copytree(FIXTURES / "stream_python", root / "python")
    (root / "functions.yaml").write_text(
        """
functions:
  marked: {runtime: nodejs20.x, code: node/, handler: index.marked, timeout: 10,
           aliases: {live: "1"}, reserved_concurrency: 1}
  http: {runtime: nodejs20.x, code: node/, handler: index.http}
  mid: {runtime: nodejs20.x, code: node/, handler: index.failsMidStream}
  before: {runtime: nodejs20.x, code: node/, handler: index.failsBeforeStart}
  hangs: {runtime: nodejs20.x, code: node/, handler: index.hangs, timeout: 1}
  exits: {runtime: nodejs20.x, code: node/, handler: index.exits}
  large: {runtime: nodejs20.x, code: node/, handler: index.large, timeout: 60}
  buffered: {runtime: nodejs20.x, code: node/, handler: index.buffered}
  custom: {runtime: provided.al2023, code: custom/, handler: function.handler}
  python: {handler: python/handler.py:handler}
  python-fails: {runtime: python3.12, code: python/, handler: handler.fails}
"""
    )
    with start_local_lambda(root / "functions.yaml") as running:
        yield running


@pytest.fixture(scope="module")
def client(server: LocalLambdaServer) -> Any:
    return lambda_client(server.url)


def stream(client: Any, name: str, event: Any = None, **params: Any) -> dict[str, Any]:
    return client.invoke_with_response_stream(
        FunctionName=name, Payload=json.dumps(event if event is not None else {}), **params
    )


def collect(response: dict[str, Any]) -> tuple[list[bytes], dict[str, Any]]:
    """The PayloadChunk payloads in order, and the InvokeComplete event (which must be last)."""
    chunks: list[bytes] = []
    complete: dict[str, Any] | None = None
    for event in response["EventStream"]:
        assert complete is None, "an event after InvokeComplete"
        if "PayloadChunk" in event:
            chunks.append(event["PayloadChunk"]["Payload"])
        else:
            complete = event["InvokeComplete"]
    assert complete is not None, "no InvokeComplete"
    return chunks, complete


def test_the_first_chunk_arrives_before_the_second_is_written(client: Any, tmp_path: Path) -> None:
    marker = tmp_path / "second-written"
    response = stream(client, "marked", {"delay": 1000, "marker": str(marker)})
    assert response["StatusCode"] == 200
    assert response["ExecutedVersion"] == "$LATEST"
    headers = response["ResponseMetadata"]["HTTPHeaders"]
    assert headers["content-type"] == "application/vnd.amazon.eventstream"
    assert headers["transfer-encoding"] == "chunked"
    events = iter(response["EventStream"])
    first = next(events)
    assert first == {"PayloadChunk": {"Payload": b"first chunk;"}}
    # the handler has not written its second chunk yet: the first one was not held back
    assert not marker.exists()
    second = next(events)
    assert marker.exists()
    assert second == {"PayloadChunk": {"Payload": b"second chunk"}}
    assert next(events) == {"InvokeComplete": {}}
    assert next(events, None) is None


def test_http_response_stream_prelude_client_context_and_tail_log(client: Any) -> None:
    context = base64.b64encode(json.dumps({"custom": {"who": "tester"}}).encode()).decode()
    response = stream(client, "http", LogType="Tail", ClientContext=context)
    chunks, complete = collect(response)
    prelude, _, body = b"".join(chunks).partition(b"\0" * 8)
    assert json.loads(prelude) == {
        "statusCode": 201,
        "headers": {"Content-Type": "text/event-stream"},
        "cookies": ["a=1"],
    }
    assert body == b"data: one\n\ndata: two\n\n"
    assert chunks[-2:] == [b"data: one\n\n", b"data: two\n\n"]  # each write its own chunk
    assert set(complete) == {"LogResult"}
    log = base64.b64decode(complete["LogResult"]).decode()
    request_id = response["ResponseMetadata"]["RequestId"]
    assert f"START RequestId: {request_id}" in log
    assert "\tINFO\tstreaming for tester" in log
    assert f"REPORT RequestId: {request_id}" in log


def test_an_error_mid_stream_ends_it_with_the_error(client: Any) -> None:
    chunks, complete = collect(stream(client, "mid"))
    assert chunks == [b"partial"]
    assert complete == {"ErrorCode": "RangeError", "ErrorDetails": "broke mid-stream"}
    # the worker serves the next invocation
    assert collect(stream(client, "mid"))[1]["ErrorCode"] == "RangeError"


def test_an_error_before_the_first_byte(client: Any) -> None:
    chunks, complete = collect(stream(client, "before", LogType="Tail"))
    assert chunks == []
    assert complete["ErrorCode"] == "TypeError"
    assert complete["ErrorDetails"] == "broke before the first byte"
    assert "Invoke Error" in base64.b64decode(complete["LogResult"]).decode()


def test_a_timeout_mid_stream(client: Any) -> None:
    chunks, complete = collect(stream(client, "hangs"))
    assert chunks == [b"started"]
    assert complete["ErrorCode"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in complete["ErrorDetails"]
    assert collect(stream(client, "hangs"))[0] == [b"started"]  # a fresh worker


def test_a_crash_mid_stream(client: Any) -> None:
    chunks, complete = collect(stream(client, "exits"))
    assert chunks == [b"about to exit"]
    assert complete["ErrorCode"] == "Runtime.ExitError"
    assert "exit status 3" in complete["ErrorDetails"]


def test_custom_runtime_in_streaming_mode_with_error_trailers(client: Any) -> None:
    chunks, complete = collect(stream(client, "custom", {"chunks": ["a", "bb", "ccc"]}))
    assert chunks == [b"a", b"bb", b"ccc"]
    assert complete == {}
    chunks, complete = collect(
        stream(client, "custom", {"chunks": ["so far"], "error": "Custom.Broke"}, LogType="Tail")
    )
    assert chunks == [b"so far"]
    assert complete["ErrorCode"] == "Custom.Broke"
    assert complete["ErrorDetails"] == "custom runtime broke"
    assert "runtime api answered 202" in base64.b64decode(complete["LogResult"]).decode()


def test_python_and_buffered_node_handlers_answer_in_one_chunk(client: Any) -> None:
    chunks, complete = collect(stream(client, "python", {"a": 1}, LogType="Tail"))
    assert [json.loads(chunk) for chunk in chunks] == [{"echo": {"a": 1}, "chunks": "one"}]
    assert "python says hi" in base64.b64decode(complete["LogResult"]).decode()
    chunks, complete = collect(stream(client, "buffered", {"b": 2}))
    assert [json.loads(chunk) for chunk in chunks] == [{"echo": {"b": 2}}]
    assert complete == {}
    chunks, complete = collect(stream(client, "python-fails"))
    assert chunks == []
    assert complete == {"ErrorCode": "ValueError", "ErrorDetails": "python broke"}


def test_buffered_invoke_of_a_streaming_handler(client: Any, tmp_path: Path) -> None:
    marker = str(tmp_path / "marker")
    event = {"delay": 0, "marker": marker}
    answer = client.invoke(FunctionName="marked", Payload=json.dumps(event))
    assert answer["Payload"].read() == b"first chunk;second chunk"
    assert "FunctionError" not in answer
    answer = client.invoke(FunctionName="mid")
    assert answer["FunctionError"] == "Unhandled"
    assert json.loads(answer["Payload"].read())["errorType"] == "RangeError"


def test_qualifier_dry_run_and_errors_before_the_stream(
    client: Any, server: LocalLambdaServer, tmp_path: Path
) -> None:
    event = {"delay": 0, "marker": str(tmp_path / "marker")}
    response = stream(client, "marked", event, Qualifier="live")
    assert response["ExecutedVersion"] == "1"
    assert collect(response)[0] == [b"first chunk;", b"second chunk"]

    dry = stream(client, "marked", event, InvocationType="DryRun")
    assert dry["StatusCode"] == 204

    with pytest.raises(ClientError) as missing:
        stream(client, "nope")
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert missing.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404

    with pytest.raises(ClientError) as unsigned:
        stream(lambda_client(server.url, secret_key="wrong"), "marked", event)
    assert unsigned.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert unsigned.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403

    with pytest.raises(ClientError) as event_type:
        stream(client, "marked", event, InvocationType="Event")
    assert event_type.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400

    # reserved_concurrency 1: a second stream while the first runs is a 429
    running = stream(client, "marked", {**event, "delay": 500})
    with pytest.raises(ClientError) as throttled:
        stream(client, "marked", event)
    assert throttled.value.response["Error"]["Code"] == "TooManyRequestsException"
    assert throttled.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert collect(running)[0] == [b"first chunk;", b"second chunk"]


def _peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")
def test_a_large_stream_read_slowly_is_never_held_whole(
    client: Any, server: LocalLambdaServer
) -> None:
    collect(stream(client, "large", {"megabytes": 1}))  # warm the worker and the code paths
    before = _peak_rss_kib(server.process.pid)
    response = stream(client, "large", {"megabytes": 48})
    events = iter(response["EventStream"])
    size = len(next(events)["PayloadChunk"]["Payload"])
    # a client that stops reading for a while: the server must not take the rest meanwhile
    threading.Event().wait(1.0)
    for event in events:
        size += len(event.get("PayloadChunk", {}).get("Payload", b""))
    assert size == 48 * 1024 * 1024
    growth_mib = (_peak_rss_kib(server.process.pid) - before) / 1024
    assert growth_mib < 16, f"the server's peak RSS grew by {growth_mib:.1f} MiB"

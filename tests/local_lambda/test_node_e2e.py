"""Node.js functions through the real local Lambda server and botocore: the server starts the
bootstrap (runtime: nodejs*.x) and serves it the Runtime API."""

from __future__ import annotations

import base64
import json
import shutil
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.local_lambda.node_harness import FUNCTIONS, needs_node
from tests.local_lambda_fixtures import LocalLambdaServer, lambda_client, start_local_lambda

pytestmark = [pytest.mark.e2e, needs_node]

FUNCTIONS_YAML = """
functions:
  cjs: {runtime: nodejs20.x, code: cjs/, handler: index.handler, memory_size: 256}
  esm: {runtime: nodejs22.x, code: esm/, handler: index.handler}
  esm_package: {runtime: nodejs18.x, code: esm_package/, handler: index.handler}
  callback: {runtime: nodejs20.x, code: cjs/, handler: index.callback}
  waits: {runtime: nodejs20.x, code: cjs/, handler: index.waits}
  thrown: {runtime: nodejs20.x, code: cjs/, handler: index.thrown}
  slow: {runtime: nodejs20.x, code: cjs/, handler: index.sleep, timeout: 1}
  crash: {runtime: nodejs20.x, code: cjs/, handler: index.exits}
  nested: {runtime: nodejs20.x, code: cjs/, handler: index.nested.deeper.handler}
  subdir: {runtime: nodejs20.x, code: cjs/, handler: src/app.handler}
  missing: {runtime: nodejs20.x, code: cjs/, handler: missing.handler}
  syntax: {runtime: nodejs20.x, code: syntax_error/, handler: index.handler}
  logs: {runtime: nodejs20.x, code: cjs/, handler: index.logs}
  stream: {runtime: nodejs20.x, code: streaming/, handler: index.chunks}
  flags: {runtime: nodejs20.x, code: cjs/, handler: index.runtimeFlags, memory_size: 512}
  hog: {runtime: nodejs20.x, code: cjs/, handler: index.hog, memory_size: 128, timeout: 60}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalLambdaServer]:
    root = tmp_path_factory.mktemp("node-functions")
    shutil.copytree(FUNCTIONS, root, dirs_exist_ok=True)
    (root / "functions.yaml").write_text(FUNCTIONS_YAML)
    with start_local_lambda(root / "functions.yaml") as running:
        yield running


@pytest.fixture(scope="module")
def client(server: LocalLambdaServer) -> Any:
    return lambda_client(server.url)


def call(client: Any, name: str, event: Any = None, **kwargs: Any) -> dict[str, Any]:
    response = client.invoke(FunctionName=name, Payload=json.dumps(event or {}), **kwargs)
    payload = response["Payload"].read()
    response["Body"] = json.loads(payload) if payload else None
    return response


def test_cjs_async_handler_with_context(client: Any) -> None:
    client_context = base64.b64encode(json.dumps({"custom": {"a": 1}}).encode()).decode()
    response = call(client, "cjs", {"order": 1}, ClientContext=client_context)
    body = response["Body"]
    assert "FunctionError" not in response
    assert body["event"] == {"order": 1}
    assert body["functionName"] == "cjs"
    assert body["functionVersion"] == "$LATEST"
    assert body["memoryLimitInMB"] == "256"
    assert body["invokedFunctionArn"].endswith(":function:cjs")
    assert body["awsRequestId"] == response["ResponseMetadata"]["RequestId"]
    assert body["logGroupName"] == "/aws/lambda/cjs"
    assert body["clientContext"]["custom"] == {"a": 1}
    assert 0 < body["remaining"] <= 3_000  # the default timeout is 3 s


def test_module_forms_and_handler_paths(client: Any) -> None:
    assert call(client, "esm")["Body"]["kind"] == "esm"
    assert call(client, "esm_package")["Body"]["kind"] == "esm package"
    assert call(client, "nested")["Body"] == "nested export"
    assert call(client, "subdir", {"n": 2})["Body"] == {"kind": "subdirectory", "event": {"n": 2}}


def test_callback_handlers(client: Any) -> None:
    assert call(client, "callback", {"x": 1})["Body"] == {"kind": "callback", "event": {"x": 1}}
    assert call(client, "waits", {"wait": True})["Body"] == {"late": True}
    assert call(client, "waits", {"wait": False})["Body"] == {"late": False}


def test_thrown_error(client: Any) -> None:
    response = call(client, "thrown")
    assert response["FunctionError"] == "Unhandled"
    assert response["Body"]["errorType"] == "OrderError"
    assert response["Body"]["errorMessage"] == "no such order"
    assert response["Body"]["trace"][0] == "OrderError: no such order"


def test_timeout_and_crash(client: Any) -> None:
    response = call(client, "slow", {"ms": 5000})
    assert response["FunctionError"] == "Unhandled"
    assert response["Body"]["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in response["Body"]["errorMessage"]
    assert call(client, "slow", {"ms": 10})["Body"] == "slept"

    crashed = call(client, "crash")
    assert crashed["Body"]["errorType"] == "Runtime.ExitError"
    assert "exit status 3" in crashed["Body"]["errorMessage"]


def test_runtime_flags_and_memory_limit_as_on_lambda(client: Any) -> None:
    # AWS's bootstrap: --expose-gc and a V8 heap of the memory size minus the new space
    flags = call(client, "flags")["Body"]
    assert flags["gc"] == "function"
    # 512 MB: 461 MB of old space plus the young generation (node's own default: 2-4 GB)
    assert 461 < flags["heapLimitMB"] < 600
    hog = call(client, "hog")
    assert hog["FunctionError"] == "Unhandled"
    assert hog["Body"]["errorType"] == "Runtime.ExitError"
    assert "Runtime exited with error: signal: aborted" in hog["Body"]["errorMessage"]


def test_init_errors(client: Any) -> None:
    missing = call(client, "missing")
    assert missing["FunctionError"] == "Unhandled"
    assert missing["Body"]["errorType"] == "Runtime.ImportModuleError"
    assert "Cannot find module 'missing'" in missing["Body"]["errorMessage"]
    assert call(client, "syntax")["Body"]["errorType"] == "Runtime.UserCodeSyntaxError"


def test_console_lines_in_the_tail_log(client: Any) -> None:
    response = call(client, "logs", LogType="Tail")
    log = base64.b64decode(response["LogResult"]).decode()
    request_id = response["ResponseMetadata"]["RequestId"]
    assert f"START RequestId: {request_id}" in log
    assert f"\t{request_id}\tINFO\thello from logs" in log
    assert f"\t{request_id}\tWARN\tcareful" in log
    assert f"END RequestId: {request_id}" in log
    assert f"REPORT RequestId: {request_id}" in log


def test_streaming_handler_chunks_arrive_as_written(client: Any) -> None:
    response = client.invoke_with_response_stream(
        FunctionName="stream", Payload=json.dumps({"delay": 1000})
    )
    arrivals = []
    for event in response["EventStream"]:
        if "PayloadChunk" in event:
            arrivals.append((time.monotonic(), event["PayloadChunk"]["Payload"]))
        if "InvokeComplete" in event:
            assert not event["InvokeComplete"].get("ErrorCode")
    assert b"".join(data for _, data in arrivals) == b"first chunk;second chunk"
    assert arrivals[0][1] == b"first chunk;"
    # the first chunk came well before the handler's second write, a second later
    assert arrivals[-1][0] - arrivals[0][0] > 0.5

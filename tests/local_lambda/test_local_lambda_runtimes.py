"""Runtimes over the Runtime API: AWS's custom-runtime tutorial bootstrap (bash + curl),
AWS's awslambdaric as a ``command``, a probe that misuses the API, process groups, and the
credential scope's region, through botocore against a real server subprocess."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.local_lambda_fixtures import SCRIPT, LocalLambdaServer, lambda_client, start_local_lambda

pytestmark = pytest.mark.e2e
FIXTURES = Path(__file__).resolve().parent / "runtime_fixtures"


@pytest.fixture(scope="module")
def functions_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("runtimes")
    for name in ("tutorial", "ric", "probe"):
        shutil.copytree(FIXTURES / name, root / name)
    (root / "forker.py").write_text((FIXTURES / "ric" / "app.py").read_text())
    (root / "functions.yaml").write_text(
        f"""
functions:
  tutorial: {{runtime: provided.al2023, code: tutorial/, handler: function.handler, timeout: 1}}
  ric:
    command: [{sys.executable}, -m, awslambdaric, app.handler]
    code: ric/
    timeout: 1
  forker: {{handler: forker.py:handler, timeout: 1}}
  forker-py: {{runtime: python3.12, code: ., handler: forker.handler, timeout: 1}}
  probe:
    command: [{sys.executable}, probe.py]
    code: probe/
    handler: probe.handler
    environment: {{COLOR: blue}}
"""
    )
    return root / "functions.yaml"


@pytest.fixture(scope="module")
def server(functions_file: Path) -> Iterator[LocalLambdaServer]:
    with start_local_lambda(functions_file) as server:
        yield server


@pytest.fixture(scope="module")
def client(server: LocalLambdaServer) -> Any:
    return lambda_client(server.url)


def invoke(client: Any, name: str, event: Any) -> tuple[dict[str, Any], bytes, str]:
    response = client.invoke(FunctionName=name, Payload=json.dumps(event), LogType="Tail")
    return response, response["Payload"].read(), base64.b64decode(response["LogResult"]).decode()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_tutorial_bootstrap_invoke_logs_timeout_and_crash(client: Any) -> None:
    response, body, log = invoke(client, "tutorial", {"a": 1})
    request_id = response["ResponseMetadata"]["RequestId"]
    assert "FunctionError" not in response
    assert body == b"Echoing request: '{\"a\": 1}'"
    assert f"START RequestId: {request_id}" in log and '{"a": 1}' in log
    assert f"END RequestId: {request_id}\nREPORT RequestId: {request_id}" in log

    started = time.monotonic()
    response, body, _ = invoke(client, "tutorial", {"x": "sleep"})
    assert time.monotonic() - started < 4
    assert json.loads(body)["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in json.loads(body)["errorMessage"]

    response, body, _ = invoke(client, "tutorial", {"x": "exit"})
    assert json.loads(body)["errorType"] == "Runtime.ExitError"
    assert json.loads(body)["errorMessage"].endswith("Runtime exited with error: exit status 7")
    assert invoke(client, "tutorial", {"b": 2})[1] == b"Echoing request: '{\"b\": 2}'"


def test_awslambdaric_invoke_error_and_timeout(client: Any) -> None:
    response, body, log = invoke(client, "ric", {"a": 1})
    result = json.loads(body)
    assert result["event"] == {"a": 1}
    assert result["request_id"] == response["ResponseMetadata"]["RequestId"]
    assert result["function_name"] == "ric"
    assert "ric handler ran" in log

    response, body, _ = invoke(client, "ric", {"fail": "boom"})
    assert response["FunctionError"] == "Unhandled"
    assert json.loads(body)["errorType"] == "ValueError"
    assert json.loads(body)["errorMessage"] == "boom"

    response, body, _ = invoke(client, "ric", {"sleep": 3})
    assert json.loads(body)["errorType"] == "Sandbox.Timedout"
    assert invoke(client, "ric", {"b": 1})[0]["StatusCode"] == 200


def test_forked_child_ends_with_a_crashed_worker_and_the_crash_is_reported_at_once(
    client: Any,
) -> None:
    started = time.monotonic()
    _, body, _ = invoke(client, "ric", {"fork": 1, "exit": 4})
    assert time.monotonic() - started < 0.9  # not the 1 s timeout
    assert json.loads(body)["errorType"] == "Runtime.ExitError"


def test_runtime_api_headers_environment_and_misuse(client: Any, server: LocalLambdaServer) -> None:
    response, body, _ = invoke(client, "probe", {"mode": "ok"})
    seen = json.loads(body)
    request_id = response["ResponseMetadata"]["RequestId"]
    headers = seen["headers"]
    assert headers["Lambda-Runtime-Aws-Request-Id"] == request_id
    assert headers["Lambda-Runtime-Invoked-Function-Arn"].endswith(":function:probe")
    assert int(headers["Lambda-Runtime-Deadline-Ms"]) > time.time() * 1000
    assert headers["Lambda-Runtime-Trace-Id"].startswith("Root=1-")
    assert seen["content_type"] == "application/json"
    env = seen["environment"]
    assert env["_HANDLER"] == "probe.handler" and env["COLOR"] == "blue"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "probe" and env["TZ"] == ":UTC"
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == "/aws/lambda/probe"
    assert env["LAMBDA_TASK_ROOT"].endswith("probe") and env["AWS_REGION"] == "us-east-1"
    assert all(env[key] for key in env)
    assert seen["unknown_id"] == [
        400,
        '{"errorMessage": "Invalid request ID", "errorType": "InvalidRequestID"}',
    ]
    assert seen["init_error_late"][0] == 403

    # the probe prints what its second response got after the first ended the invocation:
    # that output belongs to the next invocation's log
    response, body, log = invoke(client, "probe", {"mode": "error"})
    assert "first 202 second 400" in log
    assert "InvalidRequestID" in log
    assert response["FunctionError"] == "Unhandled"
    assert json.loads(body) == {"errorMessage": "bad", "errorType": "Oops"}

    response, body, _ = invoke(client, "probe", {"mode": "too_large"})
    assert json.loads(body)["errorType"] == "Function.ResponseSizeTooLarge"


def test_timeout_kills_the_whole_process_group(client: Any, tmp_path: Path) -> None:
    _, body, _ = invoke(client, "ric", {"a": 1})
    pid = json.loads(body)["pid"]
    invoke(client, "ric", {"sleep": 3})
    deadline = time.monotonic() + 5
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not alive(pid)


def test_request_signed_for_another_region_is_rejected(server: LocalLambdaServer) -> None:
    import botocore.session

    other = botocore.session.get_session().create_client(
        "lambda",
        endpoint_url=server.url,
        region_name="eu-west-9",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    with pytest.raises(ClientError) as excinfo:
        other.invoke(FunctionName="ric", Payload=b"{}")
    error = excinfo.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert error["Error"]["Code"] == "InvalidSignatureException"
    assert "eu-west-9" in error["Error"]["Message"]


def test_missing_bootstrap_is_a_start_up_error_naming_the_function(tmp_path: Path) -> None:
    (tmp_path / "code").mkdir()
    functions = tmp_path / "functions.yaml"
    functions.write_text("functions:\n  resize: {runtime: provided.al2023, code: code/}\n")
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--functions", str(functions), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "function 'resize'" in result.stderr and "bootstrap" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("name", ["forker", "forker-py", "ric"])
def test_python_worker_with_a_forked_child_crash_is_exit_error_at_once(
    client: Any, name: str
) -> None:
    started = time.monotonic()
    _, body, _ = invoke(client, name, {"fork": 1, "exit": 4})
    assert time.monotonic() - started < 0.9  # not the 1 s timeout
    assert json.loads(body)["errorType"] == "Runtime.ExitError"


@pytest.mark.parametrize("name", ["forker", "ric"])
def test_forked_child_ends_at_the_timeout_and_at_shutdown(
    functions_file: Path, tmp_path: Path, name: str
) -> None:
    pids_file = tmp_path / "pids"
    with start_local_lambda(functions_file) as server:
        client = lambda_client(server.url)
        # the child sleeps 60 s; the worker then times out
        _, body, _ = invoke(client, name, {"fork": 1, "sleep": 3})
        assert json.loads(body)["errorType"] == "Sandbox.Timedout"
        _, body, _ = invoke(client, name, {"fork": 1})
        pids_file.write_text(str(json.loads(body).get("pid", "")))
        children = subprocess.run(
            ["pgrep", "-g", str(json.loads(body)["pid"])], capture_output=True, text=True
        ).stdout.split()
        assert len(children) >= 2  # the worker and its forked child
    deadline = time.monotonic() + 5
    while any(alive(int(pid)) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not any(alive(int(pid)) for pid in children)

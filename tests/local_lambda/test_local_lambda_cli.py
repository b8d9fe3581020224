"""The local Lambda server's command line, its functions file, and the AWS CLI as a client."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from local_lambda.errors import FunctionsFileError
from local_lambda.functions_file import load_functions
from tests.local_lambda_fixtures import (
    EXAMPLE_FUNCTIONS,
    REPO,
    SCRIPT,
    LocalLambdaServer,
    lambda_client,
    local_lambda,
)

AWS = Path(sys.executable).with_name("aws")
_ = local_lambda  # the module-scoped server fixture


def write_functions(directory: Path, body: str) -> Path:
    (directory / "handler.py").write_text("def handler(event, context):\n    return event\n")
    file = directory / "functions.yaml"
    file.write_text(textwrap.dedent(body))
    return file


# -- the functions file ----------------------------------------------------------------------


def test_example_file_loads_with_aws_defaults() -> None:
    specs = load_functions(EXAMPLE_FUNCTIONS)

    echo, proxy = specs["echo"], specs["proxy"]
    assert echo.handler_file == REPO / "configs" / "functions" / "echo.py"
    assert echo.handler_name == "handler"
    assert (echo.timeout, echo.memory_size, echo.reserved_concurrency) == (3, 128, 10)
    assert echo.environment == {"GREETING": "hi"}
    assert echo.aliases == {"live": "1", "beta": "2"}
    assert echo.versions == {"$LATEST", "1", "2"}
    assert (proxy.timeout, proxy.memory_size, proxy.reserved_concurrency) == (3, 128, None)
    assert specs["slow-timeout"].timeout < 2 < specs["slow"].timeout


@pytest.mark.parametrize(
    ("function", "field", "body"),
    [
        ("echo", "handler", "{timeout: 3}"),
        ("echo", "handler", "{handler: handler.py}"),
        ("echo", "handler", "{handler: missing.py:handler}"),
        ("echo", "handler", "{handler: 'handler.py:not-a-name'}"),
        ("echo", "timeout", "{handler: handler.py:handler, timeout: 0}"),
        ("echo", "timeout", "{handler: handler.py:handler, timeout: 901}"),
        ("echo", "timeout", "{handler: handler.py:handler, timeout: soon}"),
        ("echo", "memory_size", "{handler: handler.py:handler, memory_size: 64}"),
        ("echo", "memory_size", "{handler: handler.py:handler, memory_size: 256.5}"),
        ("echo", "environment", "{handler: handler.py:handler, environment: [A]}"),
        ("echo", "environment", "{handler: handler.py:handler, environment: {1A: x}}"),
        ("echo", "aliases", "{handler: handler.py:handler, aliases: {live: latest}}"),
        ("echo", "aliases", "{handler: handler.py:handler, aliases: {'7': '1'}}"),
        ("echo", "reserved_concurrency", "{handler: handler.py:handler, reserved_concurrency: -1}"),
        ("echo", "timeot", "{handler: handler.py:handler, timeot: 3}"),
    ],
)
def test_bad_field_is_named_with_its_function(
    tmp_path: Path, function: str, field: str, body: str
) -> None:
    file = write_functions(
        tmp_path, f"functions:\n  ok: {{handler: handler.py:handler}}\n  {function}: {body}\n"
    )

    with pytest.raises(FunctionsFileError) as excinfo:
        load_functions(file)

    assert (excinfo.value.function, excinfo.value.field) == (function, field)
    assert f"function '{function}': field '{field}': " in str(excinfo.value)
    assert str(file) in str(excinfo.value)


@pytest.mark.parametrize(
    "body",
    ["", "functions: []", "functions: {}", "functions: {a: 1}\nextra: 2", "functions: [unclosed"],
)
def test_bad_file_structure_is_rejected(tmp_path: Path, body: str) -> None:
    with pytest.raises(FunctionsFileError):
        load_functions(write_functions(tmp_path, body))


def test_bad_function_name_is_rejected(tmp_path: Path) -> None:
    file = write_functions(tmp_path, "functions:\n  'bad name': {handler: handler.py:handler}\n")
    with pytest.raises(FunctionsFileError) as excinfo:
        load_functions(file)
    assert excinfo.value.function == "bad name"


def test_cli_reports_a_bad_file_naming_the_function_and_field(tmp_path: Path) -> None:
    file = write_functions(
        tmp_path, "functions:\n  echo: {handler: handler.py:handler, timeout: -5}\n"
    )

    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--functions", str(file), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert result.returncode == 2
    assert (
        "function 'echo': field 'timeout': expected a number from 1 to 900, got -5" in result.stderr
    )


def test_cli_prints_where_it_listens_and_what_it_serves(local_lambda: LocalLambdaServer) -> None:
    output = local_lambda.output()
    assert f"local-lambda listening on {local_lambda.url}" in output
    for name in load_functions(EXAMPLE_FUNCTIONS):
        assert f"  {name}: " in output


def test_a_stdout_nobody_reads_does_not_stall_the_server() -> None:
    process = subprocess.Popen(
        [sys.executable, str(SCRIPT), "--functions", str(EXAMPLE_FUNCTIONS), "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = next(
            match.group(1)
            for line in process.stdout
            if (match := re.search(r"listening on (http://\S+)", line))
        )
        client = lambda_client(url, read_timeout=10)
        message = "m" * 20_000  # ~40 KB of log per invocation; a pipe holds 64 KB
        for _ in range(4):
            response = client.invoke(FunctionName="error", Payload=json.dumps({"message": message}))
            assert response["FunctionError"] == "Unhandled"
    finally:
        process.terminate()
        process.wait(timeout=10)


# -- the AWS CLI as a client -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AwsCli:
    """The AWS CLI with an isolated configuration and credentials test/test."""

    env: dict[str, str]
    flags: tuple[str, ...]

    def invoke(
        self, url: str, out: Path, *args: str, payload: str | None = None, **env: str
    ) -> tuple[subprocess.CompletedProcess[str], Any]:
        command = [str(AWS), "lambda", "invoke", "--endpoint-url", url, *self.flags, *args]
        if payload is not None:
            command += ["--payload", payload]
        result = subprocess.run(
            [*command, str(out)],
            capture_output=True,
            text=True,
            env=self.env | env,
            timeout=60,
            check=False,
        )
        return result, json.loads(result.stdout) if result.returncode == 0 else None


@pytest.fixture(scope="module")
def aws(tmp_path_factory: pytest.TempPathFactory) -> AwsCli:
    if not AWS.exists():
        pytest.skip("the AWS CLI is not installed in this environment")
    home = tmp_path_factory.mktemp("aws-home")
    (home / "config").write_text("")
    (home / "credentials").write_text("")
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")} | {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(home / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "credentials"),
        "AWS_PAGER": "",
    }
    version = subprocess.run(
        [str(AWS), "--version"], capture_output=True, text=True, env=env, check=False
    )
    # v2 reads --payload as base64 unless told otherwise; v1 has no such option
    is_v2 = "aws-cli/2" in version.stdout + version.stderr
    return AwsCli(env, ("--cli-binary-format", "raw-in-base64-out") if is_v2 else ())


def test_aws_cli_invoke_with_alias_and_tail(
    aws: AwsCli, local_lambda: LocalLambdaServer, tmp_path: Path
) -> None:
    out = tmp_path / "out.json"
    result, summary = aws.invoke(
        local_lambda.url,
        out,
        "--function-name",
        "echo",
        "--qualifier",
        "live",
        "--log-type",
        "Tail",
        payload='{"from": "aws-cli"}',
    )

    assert result.returncode == 0, result.stderr
    assert summary["StatusCode"] == 200
    assert summary["ExecutedVersion"] == "1"
    assert "START RequestId: " in base64.b64decode(summary["LogResult"]).decode()
    assert json.loads(out.read_text())["event"] == {"from": "aws-cli"}


def test_aws_cli_sees_a_function_error(
    aws: AwsCli, local_lambda: LocalLambdaServer, tmp_path: Path
) -> None:
    out = tmp_path / "out.json"
    result, summary = aws.invoke(
        local_lambda.url, out, "--function-name", "error", payload='{"message": "cli"}'
    )

    assert result.returncode == 0, result.stderr
    assert summary["FunctionError"] == "Unhandled"
    assert json.loads(out.read_text())["errorMessage"] == "cli"


def test_aws_cli_sees_service_errors(
    aws: AwsCli, local_lambda: LocalLambdaServer, tmp_path: Path
) -> None:
    out = tmp_path / "out.json"
    missing, _ = aws.invoke(local_lambda.url, out, "--function-name", "missing")
    bad_secret, _ = aws.invoke(
        local_lambda.url, out, "--function-name", "echo", AWS_SECRET_ACCESS_KEY="wrong"
    )

    assert missing.returncode != 0
    assert "(ResourceNotFoundException)" in missing.stderr
    assert "Function not found: arn:aws:lambda:us-east-1:123456789012:function:missing" in (
        missing.stderr
    )
    assert bad_secret.returncode != 0
    assert "(InvalidSignatureException)" in bad_secret.stderr

"""Python functions in AWS's form (``runtime: python3.x``, ``code:``, ``handler:
module.function``), through botocore against a real server: a plain module, a handler in a
package (``pkg.api.routes.handler``, with relative and absolute imports of its siblings),
a handler in a subdirectory (``dir/module.handler``), AWS's import errors, and a reload
when any file of ``code/`` changes."""

from __future__ import annotations

import base64
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.local_lambda_fixtures import LocalLambdaServer, lambda_client, start_local_lambda

pytestmark = pytest.mark.e2e
FIXTURES = Path(__file__).resolve().parent / "runtime_fixtures"


@pytest.fixture(scope="module")
def code(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("python-aws-form")
    shutil.copytree(FIXTURES / "apigw_python", root / "code")
    (root / "functions.yaml").write_text(
        """
functions:
  app: {runtime: python3.12, code: code/, handler: app.handler}
  packaged: {runtime: python3.11, code: code/, handler: pkg.api.routes.handler}
  slashed: {runtime: python3.12, code: code/, handler: pkg/api/routes.handler}
  no-module: {runtime: python3.12, code: code/, handler: nope.handler}
  no-package: {runtime: python3.12, code: code/, handler: nopkg.mod.handler}
  no-function: {runtime: python3.12, code: code/, handler: pkg.api.routes.missing}
"""
    )
    return root


@pytest.fixture(scope="module")
def server(code: Path) -> Iterator[LocalLambdaServer]:
    with start_local_lambda(code / "functions.yaml") as running:
        yield running


@pytest.fixture(scope="module")
def client(server: LocalLambdaServer) -> Any:
    return lambda_client(server.url)


def call(client: Any, name: str, event: Any) -> tuple[bool, dict[str, Any]]:
    response = client.invoke(FunctionName=name, Payload=json.dumps(event))
    return "FunctionError" in response, json.loads(response["Payload"].read())


def test_module_handler(client: Any) -> None:
    failed, answer = call(client, "app", {"path": "/orders"})
    assert not failed
    assert json.loads(answer["body"]) == {"path": "/orders", "function": "app", "module": "app"}


@pytest.mark.parametrize("name", ["packaged", "slashed"])
def test_package_handler_imports_its_siblings(client: Any, name: str) -> None:
    failed, answer = call(client, name, {})
    assert not failed, answer
    assert json.loads(answer["body"]) == {
        "greeting": "hello from a sibling module",
        "settings": "pkg.settings",
        "module": "pkg.api.routes",  # imported as the package's module, as AWS does
    }


def test_import_errors_name_the_module_as_aws_does(client: Any) -> None:
    failed, answer = call(client, "no-module", {})
    assert failed
    assert answer["errorType"] == "Runtime.ImportModuleError"
    assert answer["errorMessage"] == "Unable to import module 'nope': No module named 'nope'"
    failed, answer = call(client, "no-package", {})
    assert answer["errorType"] == "Runtime.ImportModuleError"
    assert answer["errorMessage"].startswith("Unable to import module 'nopkg.mod'")
    failed, answer = call(client, "no-function", {})
    assert answer["errorType"] == "Runtime.HandlerNotFound"
    assert answer["errorMessage"] == "Handler 'missing' missing on module 'pkg.api.routes'"


def test_editing_a_sibling_module_gives_fresh_workers(client: Any, code: Path) -> None:
    assert json.loads(call(client, "packaged", {})[1]["body"])["greeting"].startswith("hello")
    sibling = code / "code" / "pkg" / "api" / "greeting.py"
    sibling.write_text('TEXT = "edited"\n')
    stat = sibling.stat()  # a new mtime even within the file system's timestamp granularity
    os.utime(sibling, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))
    assert json.loads(call(client, "packaged", {})[1]["body"])["greeting"] == "edited"
    # the bytecode cache the import wrote is not an edit: the worker stays warm
    first = client.invoke(FunctionName="packaged", Payload=b"{}", LogType="Tail")
    second = client.invoke(FunctionName="packaged", Payload=b"{}", LogType="Tail")
    assert first["StatusCode"] == second["StatusCode"] == 200
    assert "Init Duration" not in base64.b64decode(second["LogResult"]).decode()

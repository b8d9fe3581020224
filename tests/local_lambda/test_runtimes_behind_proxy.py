"""Every runtime behind the addon, as a user mocks a backend: a real proxy (mitmdump -s and
lambda-route --lean, reverse mode) -> the local server -> Node.js (CommonJS and ES module,
async and callback handlers, a thrown error, a timeout, a crash), a custom runtime (AWS's
tutorial bash bootstrap) and Python in AWS's form (a module and a package handler), with
API Gateway REST events and proxy integration, and a real HTTP client."""

from __future__ import annotations

import base64
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.local_lambda.node_harness import NODE
from tests.local_lambda_fixtures import LocalLambdaServer, start_local_lambda
from tests.mitmdump_process import (
    free_port,
    proxy_master,  # noqa: F401 (fixture: every test runs against mitmdump and --lean)
    run_mitmdump,
)
from tests.test_e2e import route, write_config

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("proxy_master")]
FIXTURES = Path(__file__).resolve().parent / "runtime_fixtures"
SECRET = "e2e-secret-Zq8vX"
needs_node = pytest.mark.skipif(NODE is None, reason="the Node.js tests need `node` on PATH")

FUNCTIONS = """
functions:
  node-async: {runtime: nodejs20.x, code: node/, handler: index.asyncHandler}
  node-callback: {runtime: nodejs18.x, code: node/, handler: index.callback}
  node-binary: {runtime: nodejs20.x, code: node/, handler: index.binary}
  node-thrown: {runtime: nodejs20.x, code: node/, handler: index.thrown}
  node-callback-error: {runtime: nodejs20.x, code: node/, handler: index.callbackError}
  node-slow: {runtime: nodejs20.x, code: node/, handler: index.sleep, timeout: 1}
  node-crash: {runtime: nodejs20.x, code: node/, handler: index.exits}
  node-esm: {runtime: nodejs22.x, code: node_esm/, handler: index.handler}
  bash: {runtime: provided.al2023, code: bash/, handler: apigw.handler, timeout: 1}
  py-app: {runtime: python3.12, code: python/, handler: app.handler, timeout: 1}
  py-package: {runtime: python3.12, code: python/, handler: pkg.api.routes.handler}
"""
# route name -> function; every route: API Gateway REST events, proxy integration
ROUTES = {
    "node-async": "node-async",
    "node-callback": "node-callback",
    "node-binary": "node-binary",
    "node-thrown": "node-thrown",
    "node-callback-error": "node-callback-error",
    "node-slow": "node-slow",
    "node-crash": "node-crash",
    "node-esm": "node-esm",
    "bash": "bash",
    "py-app": "py-app",
    "py-package": "py-package",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalLambdaServer]:
    root = tmp_path_factory.mktemp("runtimes-behind-proxy")
    for source, target in (
        ("apigw_node", "node"),
        ("apigw_node_esm", "node_esm"),
        ("apigw_bash", "bash"),
        ("apigw_python", "python"),
    ):
        shutil.copytree(FIXTURES / source, root / target)
    (root / "functions.yaml").write_text(FUNCTIONS)
    with start_local_lambda(
        root / "functions.yaml", access_key="e2e-key", secret_key=SECRET
    ) as running:
        yield running


@pytest.fixture(scope="module")
def client(
    server: LocalLambdaServer,
    tmp_path_factory: pytest.TempPathFactory,
    proxy_master: str,  # noqa: F811 (the proxy is started per master)
) -> Iterator[httpx.Client]:
    tmp_path = tmp_path_factory.mktemp("proxy")
    routes = [
        route(
            name,
            f"/{name}",
            server.port,
            function_name=function,
            aws_key="e2e-key",
            aws_secret=SECRET,
            awsgateway_compatible=True,
            is_proxy_integration=True,
        )
        for name, function in ROUTES.items()
    ]
    routes.append(
        route(
            "node-unhandled",
            "/node-unhandled",
            server.port,
            function_name="node-thrown",
            is_proxy_integration=True,
            unhandled_status=418,
        )
    )
    config = write_config(tmp_path / "kong.yaml", routes)
    upstream = f"http://127.0.0.1:{free_port()}"  # nothing listens: a leak would be a 502
    with (
        run_mitmdump(config, "--mode", f"reverse:{upstream}", tmp_path=tmp_path) as proxy,
        httpx.Client(base_url=proxy.url, timeout=30) as http,
    ):
        yield http


def function_error(response: httpx.Response, status: int = 502) -> dict[str, Any]:
    """The addon's gateway-style error for a failed function: JSON, no stack trace."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    document = response.json()
    assert document["message"] == "Bad Gateway"
    assert document["function_error"] == "Unhandled"
    assert "trace" not in document and "stackTrace" not in document
    assert "Traceback" not in response.text and " at " not in document["errorMessage"]
    return document


@needs_node
@pytest.mark.parametrize(
    ("path", "status", "runtime"),
    [("/node-async", 200, "node-cjs-async"), ("/node-callback", 202, "node-cjs-callback")],
)
def test_node_cjs_handlers(client: httpx.Client, path: str, status: int, runtime: str) -> None:
    response = client.post(
        f"{path}/orders?id=7", content=b"hello", headers={"Content-Type": "text/plain"}
    )
    assert response.status_code == status
    assert response.headers["x-runtime"] == runtime
    assert response.headers.get_list("set-cookie") == ["a=1", "b=2"]
    body = response.json()
    assert body["method"] == "POST"
    assert body["path"] == "/orders"  # strip_path
    assert body["query"] == {"id": "7"}
    assert base64.b64decode(body["body"]) == b"hello"  # Kong: base64_encode_body on
    assert len(body["requestId"]) == 36


@needs_node
def test_node_esm_handler(client: httpx.Client) -> None:
    response = client.get("/node-esm/x")
    assert response.status_code == 200
    assert response.headers["x-runtime"] == "node-esm"
    assert response.json() == {
        "path": "/x",
        "loadedAt": "top-level await",
        "function": "node-esm",
    }


@needs_node
def test_node_base64_body_is_decoded(client: httpx.Client) -> None:
    response = client.get("/node-binary")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.content == bytes([0, 1, 2, 255])


@needs_node
@pytest.mark.parametrize(
    ("path", "message"),
    [("/node-thrown", "no such order"), ("/node-callback-error", "out of stock")],
)
def test_node_errors_are_gateway_errors(client: httpx.Client, path: str, message: str) -> None:
    document = function_error(client.get(path))
    assert document["errorType"] == "OrderError"
    assert document["errorMessage"] == message


@needs_node
def test_node_error_with_unhandled_status(client: httpx.Client) -> None:
    document = function_error(client.get("/node-unhandled"), status=418)
    assert document["errorType"] == "OrderError"


@needs_node
def test_node_timeout_and_crash(client: httpx.Client) -> None:
    timed_out = function_error(client.get("/node-slow"))
    assert timed_out["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in timed_out["errorMessage"]
    crashed = function_error(client.get("/node-crash"))
    assert crashed["errorType"] == "Runtime.ExitError"
    assert "exit status 3" in crashed["errorMessage"]
    # a new process answers the next request
    assert client.get("/node-async").status_code == 200


@pytest.mark.skipif(shutil.which("curl") is None, reason="the tutorial bootstrap needs curl")
def test_custom_runtime_bash_bootstrap(client: httpx.Client) -> None:
    response = client.get("/bash/items")
    assert response.status_code == 201
    assert response.headers["x-runtime"] == "bash"
    assert response.text == "bash saw /items"
    timed_out = function_error(client.get("/bash/sleep"))
    assert timed_out["errorType"] == "Sandbox.Timedout"
    crashed = function_error(client.get("/bash/exit"))
    assert crashed["errorType"] == "Runtime.ExitError"
    assert "exit status 7" in crashed["errorMessage"]
    assert client.get("/bash/again").text == "bash saw /again"


def test_python_aws_form(client: httpx.Client) -> None:
    response = client.get("/py-app/orders")
    assert response.status_code == 200
    assert response.headers["x-runtime"] == "python-app"
    assert response.json() == {"path": "/orders", "function": "py-app", "module": "app"}
    packaged = client.get("/py-package")
    assert packaged.status_code == 200
    assert packaged.json()["module"] == "pkg.api.routes"
    assert packaged.json()["greeting"] == "hello from a sibling module"


def test_python_aws_form_errors(client: httpx.Client) -> None:
    failed = function_error(client.get("/py-app/fail"))
    assert failed["errorType"] == "KeyError"
    assert failed["errorMessage"] == "'no such order'"
    timed_out = function_error(client.get("/py-app/sleep"))
    assert timed_out["errorType"] == "Sandbox.Timedout"
    crashed = function_error(client.get("/py-app/exit"))
    assert crashed["errorType"] == "Runtime.ExitError"
    assert "exit status 4" in crashed["errorMessage"]

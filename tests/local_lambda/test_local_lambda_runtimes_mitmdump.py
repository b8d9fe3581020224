"""Runtime API runtimes behind the addon: mitmdump (reverse mode) -> local server -> the
tutorial's bash bootstrap and awslambdaric, with real HTTP clients."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.local_lambda_fixtures import LocalLambdaServer, start_local_lambda
from tests.mitmdump_process import free_port, run_mitmdump
from tests.test_e2e import route, write_config

pytestmark = pytest.mark.e2e
FIXTURES = Path(__file__).resolve().parent / "runtime_fixtures"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalLambdaServer]:
    root = tmp_path_factory.mktemp("runtimes-e2e")
    for name in ("tutorial", "ric"):
        shutil.copytree(FIXTURES / name, root / name)
    (root / "functions.yaml").write_text(
        f"""
functions:
  tutorial: {{runtime: provided.al2023, code: tutorial/, handler: function.handler, timeout: 1}}
  ric:
    command: [{sys.executable}, -m, awslambdaric, app.handler]
    code: ric/
    timeout: 1
"""
    )
    with start_local_lambda(
        root / "functions.yaml", access_key="e2e-key", secret_key="e2e-secret-Zq8vX"
    ) as server:
        yield server


@pytest.fixture(scope="module")
def client(
    server: LocalLambdaServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[httpx.Client]:
    tmp_path = tmp_path_factory.mktemp("proxy")
    port = server.port
    config = write_config(
        tmp_path / "kong.yaml",
        [
            route(
                "ric",
                "/ric",
                port,
                function_name="ric",
                awsgateway_compatible=True,
                is_proxy_integration=True,
            ),
            route("ric-error", "/ric-error", port, function_name="ric", unhandled_status=412),
            route("tutorial", "/tutorial", port, function_name="tutorial"),
        ],
    )
    upstream = f"http://127.0.0.1:{free_port()}"
    with (
        run_mitmdump(config, "--mode", f"reverse:{upstream}", tmp_path=tmp_path) as proxy,
        httpx.Client(base_url=proxy.url, timeout=30) as http,
    ):
        yield http


def test_awslambdaric_answers_a_proxy_integration_route(client: httpx.Client) -> None:
    response = client.get("/ric/orders")
    assert response.status_code == 201
    assert response.headers["x-runtime"] == "ric"
    assert response.json() == {"path": "/orders", "runtime": "awslambdaric"}  # strip_path


def test_tutorial_bootstrap_answers_through_the_proxy(client: httpx.Client) -> None:
    response = client.post("/tutorial", json={"a": 1})
    assert response.status_code == 200
    assert response.text.startswith("Echoing request: ")


def test_timeout_and_crash_through_the_proxy_are_function_errors(client: httpx.Client) -> None:
    timed_out = client.post("/ric-error", json={"sleep": 3})
    crashed = client.post("/ric-error", json={"exit": 3})
    assert timed_out.status_code == 412 and "Task timed out" in timed_out.text
    assert crashed.status_code == 412 and "Runtime.ExitError" in crashed.text

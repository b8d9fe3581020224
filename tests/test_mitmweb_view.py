"""The Lambda side in mitmweb, read through mitmweb's own HTTP API: a real mitmweb with the
addon, the real local Lambda server, real HTTP clients. Runs on mitmproxy 11 and 12."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.local_lambda_fixtures import LocalLambdaServer, start_local_lambda
from tests.mitmdump_process import wait_for
from tests.mitmweb_process import Mitmweb, run_mitmweb, view_name, view_text

pytestmark = pytest.mark.e2e

FUNCTIONS = Path(__file__).parent / "flow_functions" / "functions.yaml"


@pytest.fixture(scope="module")
def server() -> Iterator[LocalLambdaServer]:
    with start_local_lambda(FUNCTIONS, access_key="k", secret_key="s") as running:
        yield running


def config(port: int) -> dict[str, Any]:
    base = {
        "aws_region": "us-east-1",
        "aws_key": "k",
        "aws_secret": "s",
        "host": "127.0.0.1",
        "port": port,
        "disable_https": True,
    }

    def route(name: str, path: str, **plugin: Any) -> dict[str, Any]:
        return {
            "name": name,
            "paths": [path],
            "plugins": [{"name": "aws-lambda", "config": {**base, **plugin}}],
        }

    return {
        "_format_version": "3.0",
        "services": [
            {
                "name": "shop",
                "url": "http://127.0.0.1:9",
                "routes": [
                    route(
                        "pay",
                        "/pay",
                        function_name="declined",
                        awsgateway_compatible=True,
                        is_proxy_integration=True,
                    ),
                    route(
                        "upload",
                        "/upload",
                        function_name="proxy",
                        awsgateway_compatible=True,
                        is_proxy_integration=True,
                    ),
                    route("echo", "/echo", function_name="echo", qualifier="$LATEST"),
                    {"name": "plain", "paths": ["/plain"]},
                ],
            }
        ],
    }


@pytest.fixture(scope="module")
def mitmweb(
    server: LocalLambdaServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Mitmweb]:
    tmp_path = tmp_path_factory.mktemp("mitmweb")
    path = tmp_path / "kong.yaml"
    path.write_text(yaml.safe_dump(config(server.port)))
    with run_mitmweb(path, "--mode", "reverse:http://127.0.0.1:9", tmp_path=tmp_path) as web:
        with httpx.Client(base_url=web.proxy_url, timeout=30) as client:
            assert client.get("/pay").status_code == 502
            upload = client.post(
                "/upload",
                content=b"hello from the lambda view",
                headers={"content-type": "application/octet-stream"},
            )
            assert upload.status_code == 201
            assert client.get("/echo?x=1").status_code == 200
        yield web


def flows(web: Mitmweb) -> dict[str, dict[str, Any]]:
    with web.api() as api:
        listed = api.get("/flows").json()
    return {flow["request"]["path"].partition("?")[0]: flow for flow in listed}


def content_view(web: Mitmweb, path: str, view: str, message: str = "response") -> dict[str, Any]:
    wait_for(lambda: path in flows(web))
    flow_id = flows(web)[path]["id"]
    with web.api() as api:
        response = api.get(f"/flows/{flow_id}/{message}/content/{view}.json")
    response.raise_for_status()
    return response.json()


def test_routed_flows_are_marked_in_the_flow_list(mitmweb: Mitmweb) -> None:
    wait_for(lambda: {"/pay", "/upload", "/echo"} <= flows(mitmweb).keys())
    listed = flows(mitmweb)
    assert listed["/echo"]["marked"] == "⚡"
    assert listed["/upload"]["marked"] == "⚡"
    assert listed["/pay"]["marked"] == "❌"
    assert "Unhandled PaymentDeclined" in listed["/pay"]["comment"]


def test_lambda_view_shows_a_failed_function(mitmweb: Mitmweb) -> None:
    document = content_view(mitmweb, "/pay", "Lambda")
    text = view_text(document)
    assert "route:" in text and "pay" in text
    assert "function:" in text and "declined" in text
    assert "Lambda status:    200 (Unhandled)" in text
    assert "function error: Unhandled" in text
    assert "errorType:    PaymentDeclined" in text
    assert "errorMessage: card declined: insufficient funds" in text
    assert "handlers.py" in text  # the stack trace
    assert "charging card 4242" in text  # the log tail, decoded
    assert '"httpMethod": "GET"' in text  # the payload, pretty JSON
    assert '"errorType": "PaymentDeclined"' in text  # the raw result before shaping
    assert "timings:" in text and "Invoke call" in text
    assert re.search(r"function REPORT: +Duration [\d.]+ ms, Billed Duration \d+ ms", text)


def test_lambda_view_decodes_a_base64_text_body(mitmweb: Mitmweb) -> None:
    text = view_text(content_view(mitmweb, "/upload", "Lambda"))
    assert '"body": "hello from the lambda view"' in text
    assert '"isBase64Encoded": true' in text
    assert "shown decoded" in text
    assert '"statusCode": 201' in text  # the raw result, before shaping


def test_lambda_view_is_the_automatic_choice_for_routed_responses(mitmweb: Mitmweb) -> None:
    assert view_name(content_view(mitmweb, "/echo", "auto")) == "Lambda"
    # the request's body keeps its own view
    assert view_name(content_view(mitmweb, "/upload", "auto", "request")) != "Lambda"
    echo = view_text(content_view(mitmweb, "/echo", "Lambda"))
    assert "echo:$LATEST" in echo
    assert json.loads(view_text(content_view(mitmweb, "/echo", "Raw"))) == {"x": "1"}


def test_lambda_routes_command(mitmweb: Mitmweb) -> None:
    with mitmweb.api() as api:
        response = api.post("/commands/lambda.routes", json={"arguments": []})
    assert response.status_code == 200, response.text
    lines = response.json()["value"]
    assert "3 of 4 routes go to Lambda" in lines[0]
    assert any(
        line.startswith("pay: paths /pay -> Lambda declined") and "proxy integration" in line
        for line in lines
    )
    assert any(line.startswith("plain: paths /plain -> no aws-lambda plugin") for line in lines)

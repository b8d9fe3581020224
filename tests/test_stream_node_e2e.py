"""End to end with real functions: Node.js ``awslambda.streamifyResponse`` handlers on the
local Lambda server, streamed through mitmdump (and ``lambda-route --lean``) to real
clients. The order of events is asserted through marker files the handlers write or
wait for, never through wall-clock figures."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aws_lambda_powertools.utilities.parser.models import LambdaFunctionUrlModel

from tests.local_lambda.node_harness import FUNCTIONS, needs_node
from tests.local_lambda_fixtures import LocalLambdaServer, start_local_lambda
from tests.mitmdump_process import Mitmdump, proxy_master, run_mitmdump
from tests.test_stream_relay_e2e import open_stream, trusting

pytestmark = [pytest.mark.e2e, needs_node, pytest.mark.usefixtures("proxy_master")]
__all__ = ["proxy_master"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalLambdaServer]:
    root = tmp_path_factory.mktemp("relay-functions")
    shutil.copytree(FUNCTIONS / "relay", root / "node")
    (root / "functions.yaml").write_text(
        """
functions:
  marked: {runtime: nodejs20.x, code: node/, handler: index.marked, timeout: 30}
  sse: {runtime: nodejs20.x, code: node/, handler: index.sse, timeout: 30}
  mid: {runtime: nodejs20.x, code: node/, handler: index.failsMidStream}
  echo: {runtime: nodejs20.x, code: node/, handler: index.echo}
"""
    )
    with start_local_lambda(root / "functions.yaml") as running:
        yield running


@pytest.fixture(scope="module")
def proxy(
    server: LocalLambdaServer, tmp_path_factory: pytest.TempPathFactory, proxy_master: str
) -> Iterator[Mitmdump]:
    tmp_path = tmp_path_factory.mktemp(f"node-relay-{proxy_master}")

    def route(name: str, **config: Any) -> dict[str, Any]:
        plugin = {
            "aws_region": "us-east-1",
            "aws_key": "test",
            "aws_secret": "test",
            "host": "127.0.0.1",
            "port": server.port,
            "disable_https": True,
            "function_name": name,
            "invoke_mode": "RESPONSE_STREAM",
            **config,
        }
        return {
            "name": name,
            "paths": [f"/{name}"],
            "strip_path": False,
            "plugins": [{"name": "aws-lambda", "config": plugin}],
        }

    routes = [
        route("marked"),
        route("sse"),
        route("mid"),
        route("echo", function_url_compatible=True, function_url_id="n0d3url"),
    ]
    config = tmp_path / "kong.yaml"
    config.write_text(yaml.safe_dump({"_format_version": "3.0", "routes": routes}))
    with run_mitmdump(config, tmp_path=tmp_path) as running:
        yield running


@pytest.mark.parametrize(("scheme", "client"), [("http", "http1"), ("https", "h2")])
def test_the_client_has_the_first_chunk_before_the_function_ends(
    proxy: Mitmdump, tmp_path: Path, scheme: str, client: str
) -> None:
    marker = tmp_path / f"second-written-{uuid.uuid4().hex}"
    received = bytearray()
    url = f"{scheme}://api.example.test/marked?delay=1000&marker={marker}"
    with open_stream(proxy, url, client) as answer:
        assert answer.version == ("HTTP/2" if client == "h2" else "HTTP/1.1")
        assert answer.status == 200
        assert answer.headers["content-type"] == "application/octet-stream"
        answer.read_until(received, b"first chunk;")
        # the function has not written its second chunk yet: the first was not held back
        assert not marker.exists()
        answer.read_rest(received)
        assert answer.clean is True
    assert marker.exists()
    assert bytes(received) == b"first chunk;second chunk"


def test_sse_client_gets_events_one_by_one(proxy: Mitmdump, tmp_path: Path) -> None:
    acks = tmp_path / f"ack-{uuid.uuid4().hex}"
    events: list[dict[str, str]] = []
    with (
        trusting(proxy) as http,
        http.stream(
            "GET",
            "https://api.example.test/sse",
            params={"acks": str(acks)},
            headers={"Accept": "text/event-stream"},
        ) as answer,
    ):
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "text/event-stream"
        assert answer.headers["cache-control"] == "no-cache"
        event: dict[str, str] = {}
        for line in answer.iter_lines():
            if line:
                name, _, value = line.partition(": ")
                event[name] = value
                continue
            events.append(event)
            event = {}
            # the function writes the next event only after this acknowledgement
            Path(f"{acks}-{len(events)}").write_text("ack")
    assert events == [{"id": str(n), "data": f"token {n}"} for n in range(3)]


@pytest.mark.parametrize("client", ["http1", "h2"])
def test_failure_mid_stream_truncates_and_is_logged(proxy: Mitmdump, client: str) -> None:
    received = bytearray()
    with open_stream(proxy, "https://api.example.test/mid", client) as answer:
        assert answer.status == 200
        answer.read_rest(received)
        assert answer.clean is False
    assert bytes(received) == b"partial"
    log = proxy.wait_for_log("broke mid-stream")
    assert "RangeError" in log and "about to fail" in log  # the function's log tail


def test_function_url_stream_event_validates_against_powertools(proxy: Mitmdump) -> None:
    with trusting(proxy) as http:
        answer = http.put("https://api.example.test/echo/x?q=1", json={"v": 1})
    assert answer.status_code == 200, answer.text
    assert answer.headers["set-cookie"] == "seen=1"
    event = answer.json()
    model = LambdaFunctionUrlModel.model_validate(event)
    assert model.requestContext.domainName == "n0d3url.lambda-url.us-east-1.on.aws"
    assert model.requestContext.http.method == "PUT"
    assert event["rawPath"] == "/echo/x" and event["routeKey"] == "$default"

"""End to end through mitmdump (and ``lambda-route --lean``): ``invoke_mode:
RESPONSE_STREAM`` relays each chunk to the client as the function writes it, in regular,
reverse and upstream modes, to HTTP/1.1 and HTTP/2 clients, over HTTPS interception.

The function side is a fake streaming endpoint (``fake_streaming_lambda``) whose scripts
hold a chunk back until the test opens a gate: a test opens it only once the client has
the chunk before, so a proxy that buffered the stream would never deliver it (the order
of events is asserted, never a wall-clock figure). It also fails streams mid-way, which
a real function cannot do on demand.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from aws_lambda_powertools.utilities.parser.models import LambdaFunctionUrlModel
from mitmproxy import io as mitmproxy_io

from lambdaroute.contentview import render
from tests.fake_streaming_lambda import (
    ACCESS_KEY,
    SECRET_KEY,
    FakeStreamingLambda,
    Invocation,
    chunk,
    complete,
    fake_streaming_lambda,
    prelude,
)
from tests.mitmdump_process import Mitmdump, proxy_master, run_mitmdump
from tests.test_no_upstream_e2e import CountingUpstream

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("proxy_master")]
__all__ = ["proxy_master"]

#: what the scripts did, in order, across the fake's thread and the test's
EVENTS: list[str] = []


def gate_of(invocation: Invocation) -> str:
    return str(json.loads(invocation.payload or b"{}").get("gate", ""))


async def gated(invocation: Invocation) -> None:
    gate = gate_of(invocation)
    await invocation.write(
        chunk(prelude(201, {"content-type": "text/plain", "x-from": "fn"}, cookies=["c=1"]))
    )
    await invocation.write(chunk(b"first;"))
    EVENTS.append(f"{gate}: function wrote first")
    await invocation.gate(gate)
    await invocation.write(chunk(b"second"))
    await invocation.write(complete(logs="START\nsecret-log-line\nEND"))
    EVENTS.append(f"{gate}: function ended")


async def sse(invocation: Invocation) -> None:
    gate = gate_of(invocation)
    await invocation.write(
        chunk(prelude(200, {"content-type": "text/event-stream", "cache-control": "no-cache"}))
    )
    for number in range(3):
        if number:
            await invocation.gate(f"{gate}-{number}")
        await invocation.write(chunk(f"id: {number}\ndata: token {number}\n\n".encode()))
    await invocation.write(complete())


async def fails_midway(invocation: Invocation) -> None:
    error = {"errorType": "TokenLimit", "errorMessage": "ran out mid-answer", "trace": ["at x"]}
    await invocation.write(chunk(b"partial answer"))
    await invocation.gate(gate_of(invocation))
    await invocation.write(complete("Unhandled", json.dumps(error), logs="secret-log-line"))


async def drops_midway(invocation: Invocation) -> None:
    await invocation.write(chunk(b"partial answer"))
    await invocation.gate(gate_of(invocation))
    transport = invocation.request.transport
    assert transport is not None
    transport.abort()
    raise ConnectionResetError("dropped by the test")


async def fails_first(invocation: Invocation) -> None:
    error = {"errorType": "Boom", "errorMessage": "failed before writing"}
    await invocation.write(complete("Unhandled", json.dumps(error), logs="secret-log-line"))


async def echo_event(invocation: Invocation) -> None:
    await invocation.write(chunk(prelude(200, {"content-type": "application/json"})))
    await invocation.write(chunk(invocation.payload))
    await invocation.write(complete())


async def raw(invocation: Invocation) -> None:
    await invocation.write(chunk(b"no prelude here"))
    await invocation.write(complete())


SCRIPTS = {
    "gated": gated,
    "sse": sse,
    "fails_midway": fails_midway,
    "drops_midway": drops_midway,
    "fails_first": fails_first,
    "echo_event": echo_event,
    "raw": raw,
}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeStreamingLambda]:
    with fake_streaming_lambda(SCRIPTS) as server:
        yield server


def route(name: str, port: int, **config: Any) -> dict[str, Any]:
    plugin = {
        "aws_region": "us-east-1",
        "aws_key": ACCESS_KEY,
        "aws_secret": SECRET_KEY,
        "host": "127.0.0.1",
        "port": port,
        "disable_https": True,
        "function_name": name,
        "invoke_mode": "RESPONSE_STREAM",
        "timeout": 20000,
        **config,
    }
    return {
        "name": name,
        "paths": [f"/{name}"],
        "plugins": [{"name": "aws-lambda", "config": plugin}],
    }


def write_config(tmp_path: Path, port: int) -> Path:
    routes = [route(name, port) for name in SCRIPTS]
    url_route = route(
        "url",
        port,
        function_name="echo_event",
        function_url_compatible=True,
        function_url_id="a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6",
    )
    routes.append({**url_route, "strip_path": False})
    path = tmp_path / "kong.yaml"
    path.write_text(yaml.safe_dump({"_format_version": "3.0", "routes": routes}))
    return path


@pytest.fixture(scope="module")
def proxy(
    fake: FakeStreamingLambda, tmp_path_factory: pytest.TempPathFactory, proxy_master: str
) -> Iterator[Mitmdump]:
    tmp_path = tmp_path_factory.mktemp(f"relay-{proxy_master}")
    flows = tmp_path / "flows"
    with run_mitmdump(
        write_config(tmp_path, fake.port), "-w", str(flows), tmp_path=tmp_path
    ) as running:
        yield running


def trusting(proxy: Mitmdump) -> httpx.Client:
    return httpx.Client(proxy=proxy.url, verify=ca_of(proxy), timeout=30)


def ca_of(proxy: Mitmdump) -> str:
    return str(proxy.confdir / "mitmproxy-ca-cert.pem")


@dataclass
class Streamed:
    """A response read as it arrives: by httpx (HTTP/1.1) or curl (HTTP/2; httpx through a
    proxy offers http/1.1 first, and mitmproxy follows the client's preference)."""

    version: str
    status: int
    headers: dict[str, str]
    pieces: Iterator[bytes]
    #: set once the body ended: whether it ended cleanly
    clean: bool | None = None

    def read_until(self, received: bytearray, wanted: bytes) -> None:
        while wanted not in received:
            received += next(self.pieces)

    def read_rest(self, received: bytearray) -> None:
        for piece in self.pieces:
            received += piece


@contextmanager
def open_stream(proxy: Mitmdump, url: str, client: str) -> Iterator[Streamed]:
    if client == "h2":
        with _curl_stream(proxy, url) as streamed:
            yield streamed
        return
    with trusting(proxy) as http, http.stream("GET", url) as answer:
        streamed = Streamed(answer.http_version, answer.status_code, dict(answer.headers), iter(()))

        def pieces() -> Iterator[bytes]:
            try:
                yield from answer.iter_raw()
            except (httpx.RemoteProtocolError, httpx.ReadError):
                streamed.clean = False
                return
            streamed.clean = True

        streamed.pieces = pieces()
        yield streamed


@contextmanager
def _curl_stream(proxy: Mitmdump, url: str) -> Iterator[Streamed]:
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed")
    command = [curl, "-sS", "-N", "--http2", "--proxy", proxy.url, "--cacert", ca_of(proxy)]
    process = subprocess.Popen([*command, "-D", "-", url], stdout=subprocess.PIPE)
    assert process.stdout is not None
    fd = process.stdout.fileno()
    try:
        received = bytearray()
        head = b"HTTP/1.1 200 Connection established"  # the proxy's answer to CONNECT
        while head.startswith(b"HTTP/1.1 200 Connection established"):
            while b"\r\n\r\n" not in received:
                piece = os.read(fd, 65536)
                assert piece, f"curl ended before the response head: {bytes(received)!r}"
                received += piece
            head, _, rest = bytes(received).partition(b"\r\n\r\n")
            received = bytearray(rest)
        status_line, *lines = head.decode("latin-1").split("\r\n")
        version, status = status_line.split(" ")[:2]
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        streamed = Streamed(version, int(status), headers, iter(()))

        def pieces() -> Iterator[bytes]:
            if rest:
                yield rest
            while piece := os.read(fd, 65536):
                yield piece
            streamed.clean = process.wait(10) == 0

        streamed.pieces = pieces()
        yield streamed
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)
        process.stdout.close()


@pytest.mark.parametrize(
    ("scheme", "client"), [("http", "http1"), ("https", "http1"), ("https", "h2")]
)
def test_first_chunk_reaches_the_client_before_the_function_ends(
    proxy: Mitmdump, fake: FakeStreamingLambda, scheme: str, client: str
) -> None:
    gate = uuid.uuid4().hex
    received = bytearray()
    url = f"{scheme}://api.example.test/gated?gate={gate}"
    with open_stream(proxy, url, client) as answer:
        assert answer.version == ("HTTP/2" if client == "h2" else "HTTP/1.1")
        assert answer.status == 201
        assert answer.headers["content-type"] == "text/plain"
        assert answer.headers["x-from"] == "fn"
        assert answer.headers["set-cookie"] == "c=1"
        assert "content-length" not in answer.headers
        answer.read_until(received, b"first;")
        EVENTS.append(f"{gate}: client has first")
        fake.gate(gate).set()
        answer.read_rest(received)
        assert answer.clean is True
    assert bytes(received) == b"first;second"
    mine = [event for event in EVENTS if event.startswith(gate)]
    assert mine == [
        f"{gate}: function wrote first",
        f"{gate}: client has first",
        f"{gate}: function ended",
    ]
    assert not any("secret-log-line" in value for value in answer.headers.values())
    proxy.wait_for_log("secret-log-line")  # the function's logs go to mitmproxy's log


def test_sse_events_arrive_one_by_one(proxy: Mitmdump, fake: FakeStreamingLambda) -> None:
    gate = uuid.uuid4().hex
    events: list[dict[str, str]] = []
    with (
        trusting(proxy) as http,
        http.stream(
            "GET",
            "https://api.example.test/sse",
            params={"gate": gate},
            headers={"Accept": "text/event-stream"},
        ) as answer,
    ):
        assert answer.headers["content-type"] == "text/event-stream"
        event: dict[str, str] = {}
        for line in answer.iter_lines():
            if line:
                field, _, value = line.partition(": ")
                event[field] = value
                continue
            events.append(event)
            event = {}
            # the next event is written only once this one has arrived
            fake.gate(f"{gate}-{len(events)}").set()
    assert events == [{"id": str(n), "data": f"token {n}"} for n in range(3)]


@pytest.mark.parametrize("client", ["http1", "h2"])
@pytest.mark.parametrize("function", ["fails_midway", "drops_midway"])
def test_failure_mid_stream_truncates_the_response(
    proxy: Mitmdump, fake: FakeStreamingLambda, function: str, client: str
) -> None:
    gate = uuid.uuid4().hex
    received = bytearray()
    with open_stream(proxy, f"https://api.example.test/{function}?gate={gate}", client) as answer:
        assert answer.status == 200
        assert answer.headers["content-type"] == "application/octet-stream"
        answer.read_until(received, b"partial answer")
        fake.gate(gate).set()
        answer.read_rest(received)
        assert answer.clean is False  # cut short: no last chunk / the HTTP/2 stream reset
    assert bytes(received) == b"partial answer"
    if function == "fails_midway":
        log = proxy.wait_for_log("ran out mid-answer")
        assert "TokenLimit" in log and "secret-log-line" in log
    else:
        proxy.wait_for_log("the response stream ended early (broken)")


def test_client_going_away_ends_the_function_stream(
    proxy: Mitmdump, fake: FakeStreamingLambda
) -> None:
    gate = uuid.uuid4().hex
    received = bytearray()
    with open_stream(proxy, f"http://api.example.test/gated?gate={gate}", "http1") as answer:
        answer.read_until(received, b"first;")
    # the client has gone: the proxy drops the function's stream, whose next write fails
    proxy.wait_for_log("client went away")
    fake.gate(gate).set()
    assert f"{gate}: function ended" not in EVENTS


def test_error_before_the_first_byte_is_a_json_gateway_error(proxy: Mitmdump) -> None:
    with trusting(proxy) as http:
        answer = http.get("http://api.example.test/fails_first")
    assert answer.status_code == 502
    document = answer.json()
    assert document["errorType"] == "Boom"
    assert document["errorMessage"] == "failed before writing"
    assert "secret-log-line" not in answer.text
    proxy.wait_for_log("secret-log-line")


def test_stream_without_prelude_is_octet_stream(proxy: Mitmdump) -> None:
    with trusting(proxy) as http:
        answer = http.get("https://api.example.test/raw")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/octet-stream"
    assert answer.content == b"no prelude here"


def test_head_gets_the_head_and_no_body(proxy: Mitmdump) -> None:
    with trusting(proxy) as http:
        answer = http.head("http://api.example.test/raw")
        again = http.get("http://api.example.test/raw")  # the connection is still usable
    assert answer.status_code == 200 and answer.content == b""
    assert answer.headers["content-type"] == "application/octet-stream"
    assert again.content == b"no prelude here"


def test_function_url_event_validates_against_powertools(proxy: Mitmdump) -> None:
    with trusting(proxy) as http:
        answer = http.post(
            "https://api.example.test/url/items?x=1", json={"a": 1}, headers={"Cookie": "k=v"}
        )
    assert answer.status_code == 200, answer.text
    event = answer.json()
    model = LambdaFunctionUrlModel.model_validate(event)
    context = model.requestContext
    assert context.domainName == "a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6.lambda-url.us-east-1.on.aws"
    assert event["routeKey"] == "$default" and context.stage == "$default"
    assert event["rawPath"] == "/url/items" and event["cookies"] == ["k=v"]
    assert event["queryStringParameters"] == {"x": "1"}


def test_flow_records_the_stream(proxy: Mitmdump, fake: FakeStreamingLambda) -> None:
    """Runs last in the module (it stops the proxy to read the flows it wrote with -w)."""
    ok_gate, failed_gate = uuid.uuid4().hex, uuid.uuid4().hex
    fake.gate(ok_gate).set()
    fake.gate(failed_gate).set()
    with trusting(proxy) as http:
        assert http.get("http://api.example.test/gated", params={"gate": ok_gate}).status_code
        with pytest.raises(httpx.RemoteProtocolError):
            http.get("http://api.example.test/fails_midway", params={"gate": failed_gate})
    proxy.wait_for_log("ran out mid-answer")
    proxy.process.terminate()
    proxy.process.wait(10)
    flows_path = proxy.log_path.parent / "flows"
    with flows_path.open("rb") as file:
        flows = list(mitmproxy_io.FlowReader(file).stream())
    records = {
        flow.request.query.get("gate"): flow.metadata["lambda_route"]
        for flow in flows
        if "lambda_route" in flow.metadata
    }
    ok = records[ok_gate]["stream"]
    assert ok["outcome"] == "complete" and ok["bytes"] == len(b"first;second")
    assert ok["chunks"] == 3 and ok["first_byte_ms"] > 0
    view = "\n".join(text for _, text in render(records[ok_gate]))
    assert "response stream:" in view and "complete; first byte after" in view
    assert "3 chunks; 12b relayed" in view
    assert "function result: relayed as it arrived, not kept on the flow" in view
    failed = records[failed_gate]
    view = "\n".join(text for _, text in render(failed))
    assert "function error (Unhandled); first byte after" in view
    assert failed["stream"]["outcome"] == "function error"
    assert failed["error_type"] == "TokenLimit"
    assert failed["error_message"] == "ran out mid-answer"
    assert "secret-log-line" in failed["logs"]


def test_upstream_mode_with_stream_large_bodies_never_reaches_the_upstream(
    fake: FakeStreamingLambda, tmp_path: Path
) -> None:
    upstream = CountingUpstream()
    try:
        with run_mitmdump(
            write_config(tmp_path, fake.port),
            "--mode",
            f"upstream:http://127.0.0.1:{upstream.port}",
            "--set",
            "stream_large_bodies=1k",
            tmp_path=tmp_path,
        ) as proxy:
            with trusting(proxy) as http:
                for url in ("http://api.example.test/raw", "https://api.example.test/raw"):
                    answer = http.post(url, content=b"x" * 100_000)
                    assert answer.content == b"no prelude here"
                    answer = http.post(url, content=iter([b"y" * 50_000] * 3))
                    assert answer.content == b"no prelude here"
            assert "Traceback" not in proxy.log()
        assert upstream.connections == 0
    finally:
        upstream.stop()


def test_reverse_mode(fake: FakeStreamingLambda, tmp_path: Path) -> None:
    upstream = CountingUpstream()
    gate = uuid.uuid4().hex
    try:
        with (
            run_mitmdump(
                write_config(tmp_path, fake.port),
                "--mode",
                f"reverse:http://127.0.0.1:{upstream.port}",
                tmp_path=tmp_path,
            ) as proxy,
            httpx.Client(base_url=proxy.url, timeout=30) as http,
            http.stream("GET", "/gated", params={"gate": gate}) as answer,
        ):
            received = bytearray()
            pieces = answer.iter_raw()
            while b"first;" not in received:
                received += next(pieces)
            assert f"{gate}: function ended" not in EVENTS
            fake.gate(gate).set()
            for piece in pieces:
                received += piece
            assert bytes(received) == b"first;second"
        assert upstream.connections == 0
    finally:
        upstream.stop()

"""End to end: a real mitmdump with the addon, the local Lambda server (which checks SigV4
signatures), a loopback upstream, and real HTTP clients."""

from __future__ import annotations

import base64
import json
import os
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from mitmproxy import io as mitmproxy_io

from tests.local_lambda_fixtures import start_local_lambda
from tests.mitmdump_process import (
    Mitmdump,
    free_port,
    proxy_master,  # noqa: F401 (fixture: every test runs against mitmdump and --lean)
    run_mitmdump,
    run_mitmdump_to_exit,
    wait_for,
)

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("proxy_master")]

FUNCTIONS = Path(__file__).parent / "e2e_functions" / "functions.yaml"
SECRET = "e2e-secret-Zq8vX"  # the local server's secret: must never show up anywhere


# --- loopback peers ---


class Upstream:
    """A plain HTTP server standing in for the origin of unrouted flows."""

    def __init__(self) -> None:
        self.hosts: list[str] = []
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                upstream.hosts.append(self.headers.get("Host", ""))
                body = b"from upstream"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def local_lambda() -> Iterator[Any]:
    with start_local_lambda(FUNCTIONS, access_key="e2e-key", secret_key=SECRET) as server:
        yield server


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    server = Upstream()
    yield server
    server.close()


def plugin(port: int, **config: Any) -> dict[str, Any]:
    base = {
        "aws_region": "us-east-1",
        "aws_key": "e2e-key",
        "aws_secret": SECRET,
        "host": "127.0.0.1",
        "port": port,
        "disable_https": True,
    }
    return {"name": "aws-lambda", "config": {**base, **config}}


def route(name: str, path: str, lambda_port: int | None, **config: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": name, "paths": [path]}
    if lambda_port is not None:
        entry["plugins"] = [plugin(lambda_port, **config)]
    return entry


def write_config(path: Path, routes: list[dict[str, Any]]) -> Path:
    path.write_text(yaml.safe_dump({"_format_version": "3.0", "routes": routes}))
    return path


def main_routes(port: int) -> list[dict[str, Any]]:
    closed_port = free_port()
    return [
        route("echo", "/echo", port, function_name="echo"),
        route(
            "forward",
            "/forward",
            port,
            function_name="echo",
            forward_request_method=True,
            forward_request_uri=True,
            forward_request_headers=True,
            forward_request_body=True,
        ),
        route("gateway", "/gw", port, function_name="echo", awsgateway_compatible=True),
        route("proxy", "/proxy", port, function_name="proxy", is_proxy_integration=True),
        route("binary", "/binary", port, function_name="binary", is_proxy_integration=True),
        route(
            "invalid", "/invalid", port, function_name="invalid_proxy", is_proxy_integration=True
        ),
        route("fail", "/fail", port, function_name="fail", unhandled_status=412),
        route("fail-default", "/fail-default", port, function_name="fail"),
        route("slow", "/slow", port, function_name="slow", timeout=300),
        route("missing", "/missing", port, function_name="does-not-exist"),
        route("badsig", "/badsig", port, function_name="echo", aws_secret="wrong-secret"),
        route("refused", "/refused", closed_port, function_name="echo"),
        route("throttled", "/throttled", port, function_name="throttled"),
        route("event", "/event", port, function_name="echo", invocation_type="Event"),
        route("dryrun", "/dryrun", port, function_name="echo", invocation_type="DryRun"),
        route("alias", "/alias", port, function_name="echo", qualifier="live"),
        route(
            "arn",
            "/arn",
            port,
            function_name="arn:aws:lambda:us-east-1:123456789012:function:echo",
        ),
        route("big", "/big", port, function_name="big", forward_request_body=True),
        {
            "name": "hosted",
            "hosts": ["api.example.test"],
            "paths": ["/hosted"],
            "plugins": [plugin(port, function_name="echo")],
        },
        route("nolambda", "/nolambda", None),
    ]


@pytest.fixture(scope="module")
def reverse_proxy(
    local_lambda: Any,
    upstream: Upstream,
    tmp_path_factory: pytest.TempPathFactory,
    proxy_master: str,  # noqa: F811 (the proxy is started per master)
) -> Iterator[Mitmdump]:
    tmp_path = tmp_path_factory.mktemp("reverse")
    config = write_config(tmp_path / "kong.yaml", main_routes(local_lambda.port))
    with run_mitmdump(
        config,
        "--mode",
        f"reverse:http://127.0.0.1:{upstream.port}",
        "-w",
        str(tmp_path / "flows"),
        tmp_path=tmp_path,
    ) as proxy:
        yield proxy


@pytest.fixture
def client(reverse_proxy: Mitmdump) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=reverse_proxy.url, timeout=30) as http:
        yield http


def error_body(response: httpx.Response) -> dict[str, Any]:
    assert response.headers["content-type"].startswith("application/json")
    document = response.json()
    assert document["message"]
    assert len(document["request_id"]) == 32
    assert "Traceback" not in response.text
    return document


# --- the happy paths ---


def test_routed_flow_is_answered_by_the_lambda(
    client: httpx.Client, reverse_proxy: Mitmdump
) -> None:
    response = client.post("/echo?name=you&tag=a&tag=b", json={"hello": "world"})
    assert response.status_code == 200
    assert response.json() == {"name": "you", "tag": ["a", "b"], "hello": "world"}
    assert response.headers["via"].startswith("1.1 lambda-route")
    assert response.headers["x-amz-executed-version"] == "$LATEST"
    assert "x-amzn-requestid" in response.headers
    assert "x-amz-log-result" not in response.headers  # function logs never reach the client
    reverse_proxy.wait_for_log("echo invoked as echo version $LATEST")


def test_forward_mode_payload(client: httpx.Client) -> None:
    response = client.put("/forward/x?a=1", content=b"01234", headers={"X-Custom": "v"})
    event = response.json()
    assert event["request_method"] == "PUT"
    assert event["request_uri"] == "/forward/x?a=1"
    assert event["request_uri_args"] == {"a": "1"}
    assert event["request_headers"]["x-custom"] == "v"
    assert event["request_body"] == "MDEyMzQ="
    assert event["request_body_base64"] is True


def test_api_gateway_event(client: httpx.Client) -> None:
    event = client.get("/gw/items?q=1", headers={"User-Agent": "e2e"}).json()
    assert event["httpMethod"] == "GET"
    assert event["path"] == "/items"  # Kong: the upstream path, after strip_path
    assert event["queryStringParameters"] == {"q": "1"}
    assert event["requestContext"]["identity"]["sourceIp"] == "127.0.0.1"
    assert event["requestContext"]["identity"]["userAgent"] == "e2e"


def test_proxy_integration(client: httpx.Client) -> None:
    response = client.get("/proxy")
    assert response.status_code == 201
    assert response.headers["x-from-function"] == "yes"
    assert response.headers.get_list("set-cookie") == ["a=1; Path=/", "b=2; Path=/"]
    assert json.loads(response.text) == {}  # the function echoes the (empty) default payload


def test_binary_proxy_response_is_byte_exact(client: httpx.Client) -> None:
    response = client.get("/binary")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.content == bytes(range(256))


def test_invocation_types(client: httpx.Client) -> None:
    event = client.post("/event", json={"a": 1})
    assert event.status_code == 202
    assert event.content == b""
    dry = client.post("/dryrun", json={"a": 1})
    assert dry.status_code == 204


def test_alias_and_arn(client: httpx.Client) -> None:
    assert client.get("/alias").headers["x-amz-executed-version"] == "1"
    assert client.get("/arn?x=1").json() == {"x": "1"}


def test_big_request_and_response_bodies(client: httpx.Client) -> None:
    payload = os.urandom(3 * 1024 * 1024)  # 4 MB once base64-encoded in the event
    response = client.post(
        "/big", content=payload, headers={"Content-Type": "application/octet-stream"}
    )
    assert response.status_code == 200
    assert len(response.json()["data"]) == 4 * 1024 * 1024


# --- failures: each has its own status, JSON body, no traceback, no secret ---


def test_function_error_with_unhandled_status(client: httpx.Client) -> None:
    response = client.get("/fail")
    assert response.status_code == 412
    assert response.headers["x-amz-function-error"] == "Unhandled"
    assert response.json()["errorMessage"] == "boom from the function"
    assert client.get("/fail-default").status_code == 200


def test_invalid_proxy_response_is_502(client: httpx.Client) -> None:
    response = client.get("/invalid")
    assert response.status_code == 502
    document = error_body(response)
    assert document["message"] == "Bad Gateway"
    assert "statusCode validation failed" in document["error"]


def test_timeout_is_504(client: httpx.Client) -> None:
    response = client.get("/slow")
    assert response.status_code == 504
    assert error_body(response)["message"] == "Gateway Timeout"


def test_unknown_function_is_502_naming_the_aws_error(client: httpx.Client) -> None:
    response = client.get("/missing")
    assert response.status_code == 502
    assert error_body(response)["error"].startswith("ResourceNotFoundException")


def test_bad_signature_is_rejected_by_the_server(client: httpx.Client) -> None:
    response = client.get("/badsig")
    assert response.status_code == 502
    assert "InvalidSignatureException" in error_body(response)["error"]


def test_connection_refused_is_502(client: httpx.Client) -> None:
    response = client.get("/refused")
    assert response.status_code == 502
    assert error_body(response)["message"] == "Bad Gateway"


def test_throttling_is_429(client: httpx.Client) -> None:
    response = client.get("/throttled")
    assert response.status_code == 429
    assert "TooManyRequestsException" in error_body(response)["error"]


# --- passthrough and routing in reverse mode ---


def test_unrouted_flow_passes_through_with_the_targets_host(
    client: httpx.Client, upstream: Upstream
) -> None:
    for path in ("/nolambda", "/anything-else"):
        response = client.get(path)
        assert response.text == "from upstream"
        assert "via" not in response.headers
    assert upstream.hosts[-1] == f"127.0.0.1:{upstream.port}"


def test_routes_match_the_clients_host_in_reverse_mode(
    client: httpx.Client, upstream: Upstream
) -> None:
    routed = client.get("/hosted?x=1", headers={"Host": "api.example.test"})
    assert routed.json() == {"x": "1"}
    unrouted = client.get("/hosted", headers={"Host": "other.example.test"})
    assert unrouted.text == "from upstream"


def test_http2_client_gets_the_answer(reverse_proxy: Mitmdump) -> None:
    # curl, not httpx: httpx offers http/1.1 before h2 in ALPN, and mitmproxy honours that.
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed")
    ca = reverse_proxy.confdir / "mitmproxy-ca-cert.pem"
    completed = subprocess.run(
        [
            curl,
            "-s",
            "--http2",
            "--cacert",
            str(ca),
            "-D",
            "-",
            f"https://localhost:{reverse_proxy.port}/echo?v=2",
        ],
        capture_output=True,
        timeout=30,
        check=True,
    )
    head, _, body = completed.stdout.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/2 200")
    assert b"via: 2 lambda-route" in head.lower()
    assert json.loads(body) == {"v": "2"}


def test_flows_record_what_happened_and_no_secret_leaks(
    client: httpx.Client, reverse_proxy: Mitmdump
) -> None:
    client.get("/alias")
    client.get("/badsig")
    client.get("/fail")
    log = reverse_proxy.wait_for_log("boom from the function")
    flows_file = Path(reverse_proxy.log_path).parent / "flows"
    wait_for(lambda: flows_file.exists() and flows_file.stat().st_size > 0)
    with flows_file.open("rb") as f:
        flows = list(mitmproxy_io.FlowReader(f).stream())
    records = [flow.metadata["lambda_route"] for flow in flows if "lambda_route" in flow.metadata]
    alias = next(r for r in records if r["route"] == "alias")
    assert alias["function"] == "echo"
    assert alias["qualifier"] == "live"
    assert alias["executed_version"] == "1"
    assert alias["invocation_type"] == "RequestResponse"
    assert alias["lambda_status"] == 200
    assert alias["lambda_request_id"]
    assert alias["duration_ms"] > 0
    assert "START RequestId" in alias["logs"]
    commented = next(f for f in flows if f.metadata.get("lambda_route", {}).get("route") == "alias")
    assert "echo:live" in commented.comment

    everything = log + flows_file.read_bytes().decode("latin-1")
    assert SECRET not in everything
    assert base64.b64encode(SECRET.encode()).decode() not in everything


# --- other modes, start-up and reload ---


def test_regular_mode_http_and_https_to_hosts_that_do_not_exist(
    local_lambda: Any, upstream: Upstream, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "kong.yaml", main_routes(local_lambda.port))
    with run_mitmdump(config, tmp_path=tmp_path) as proxy:
        ca = proxy.confdir / "mitmproxy-ca-cert.pem"
        trust_mitmproxy = ssl.create_default_context(cafile=str(ca))
        with httpx.Client(proxy=proxy.url, verify=trust_mitmproxy, timeout=30) as http:
            assert http.get("http://api.example.test/hosted?a=1").json() == {"a": "1"}
            # CONNECT to an origin that does not exist: eager would fail before any hook.
            assert http.get("https://api.example.test/hosted?a=2").json() == {"a": "2"}
            passthrough = http.get(f"http://127.0.0.1:{upstream.port}/nolambda")
            assert passthrough.text == "from upstream"
        assert "connection_strategy=lazy" in proxy.log()


def test_upstream_mode(local_lambda: Any, tmp_path: Path) -> None:
    config = write_config(tmp_path / "kong.yaml", main_routes(local_lambda.port))
    unreachable_proxy = f"http://127.0.0.1:{free_port()}"
    with (
        run_mitmdump(config, "--mode", f"upstream:{unreachable_proxy}", tmp_path=tmp_path) as proxy,
        httpx.Client(proxy=proxy.url, timeout=30) as http,
    ):
        assert http.get("http://api.example.test/hosted?u=1").json() == {"u": "1"}


def test_idle_without_lambda_config(upstream: Upstream, tmp_path: Path) -> None:
    with (
        run_mitmdump(
            None, "--mode", f"reverse:http://127.0.0.1:{upstream.port}", tmp_path=tmp_path
        ) as proxy,
        httpx.Client(base_url=proxy.url, timeout=30) as http,
    ):
        assert http.get("/echo").text == "from upstream"


def test_bad_config_at_start_up_is_one_clear_message(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(
        "_format_version: '3.0'\n"
        "routes:\n"
        "  - name: orders\n"
        "    paths: [/orders]\n"
        "    plugins:\n"
        "      - name: aws-lambda\n"
        "        config: {function_name: f, invocation_type: Sometimes}\n"
    )
    result = run_mitmdump_to_exit(config, tmp_path=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Traceback" not in output
    assert str(config) in output
    assert "orders" in output
    assert "invocation_type" in output
    assert "expected one of: RequestResponse, Event, DryRun" in output


def test_config_file_is_reloaded_and_a_broken_reload_keeps_the_last_good(
    local_lambda: Any, upstream: Upstream, tmp_path: Path
) -> None:
    port = local_lambda.port
    config = write_config(
        tmp_path / "kong.yaml", [route("one", "/one", port, function_name="echo")]
    )
    with (
        run_mitmdump(
            config, "--mode", f"reverse:http://127.0.0.1:{upstream.port}", tmp_path=tmp_path
        ) as proxy,
        httpx.Client(base_url=proxy.url, timeout=30) as http,
    ):
        assert http.get("/one?a=1").json() == {"a": "1"}
        assert http.get("/two").text == "from upstream"

        write_config(config, [route("two", "/two", port, function_name="echo")])
        wait_for(lambda: http.get("/two").text != "from upstream")
        assert http.get("/one").text == "from upstream"

        config.write_text("_format_version: '3.0'\nroutes: [{name: broken, paths: 7}]\n")
        proxy.wait_for_log("keeping the last good config")
        assert http.get("/two?c=1").json() == {"c": "1"}
        assert "Traceback" not in proxy.log()

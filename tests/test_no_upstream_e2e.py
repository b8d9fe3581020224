"""End to end: traffic meant for Lambda never reaches the upstream (an upstream that counts
connections sees none), whatever mitmproxy's options, and a config file still being written
is never installed. Real mitmdump, the local Lambda server, real HTTP clients."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.local_lambda_fixtures import start_local_lambda
from tests.mitmdump_process import Mitmdump, run_mitmdump, wait_for

pytestmark = pytest.mark.e2e

FUNCTIONS = Path(__file__).parent / "e2e_functions" / "functions.yaml"
SECRET = "no-upstream-secret"


class CountingUpstream(ThreadingHTTPServer):
    """An origin (or upstream proxy) that counts every connection made to it."""

    daemon_threads = True

    def __init__(self) -> None:
        self.connections = 0

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                while length:
                    length -= len(self.rfile.read(min(length, 65536)))
                body = b"from upstream"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = _answer

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.port = self.server_address[1]
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def get_request(self) -> tuple[socket.socket, Any]:
        self.connections += 1
        return super().get_request()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


@pytest.fixture(scope="module")
def local_lambda() -> Iterator[Any]:
    with start_local_lambda(FUNCTIONS, access_key="nu-key", secret_key=SECRET) as server:
        yield server


@pytest.fixture
def upstream() -> Iterator[CountingUpstream]:
    server = CountingUpstream()
    yield server
    server.stop()


def lambda_route(name: str, lambda_port: int, **config: Any) -> dict[str, Any]:
    plugin = {
        "aws_region": "us-east-1",
        "aws_key": "nu-key",
        "aws_secret": SECRET,
        "host": "127.0.0.1",
        "port": lambda_port,
        "disable_https": True,
        "function_name": "echo",
        **config,
    }
    return {
        "name": name,
        "paths": [f"/{name}"],
        "plugins": [{"name": "aws-lambda", "config": plugin}],
    }


def config_text(routes: list[dict[str, Any]]) -> str:
    """One route a line, so that every prefix that ends a line is a valid, partial config."""
    lines = ["_format_version: '3.0'", "routes:"]
    lines += [
        f"- {yaml.safe_dump(route, default_flow_style=True, width=10**6).strip()}"
        for route in routes
    ]
    return "\n".join(lines) + "\n"


def test_half_written_config_is_never_installed(
    local_lambda: Any, upstream: CountingUpstream, tmp_path: Path
) -> None:
    names = [f"r{index}" for index in range(10)]
    full = config_text([lambda_route(name, local_lambda.port) for name in names])
    config = tmp_path / "kong.yaml"
    config.write_text(full)
    with run_mitmdump(
        config, "--mode", f"reverse:http://127.0.0.1:{upstream.port}", tmp_path=tmp_path
    ) as proxy:
        # mitmproxy loads -s scripts in a task that may run after it listens (mitmproxy 12
        # does): the rewriting starts once the complete file is installed
        proxy.wait_for_log("10 of 10 routes go to Lambda", timeout=30)
        stop = threading.Event()
        answers: list[str] = []

        def client(index: int) -> None:
            with httpx.Client(base_url=proxy.url, timeout=30) as http:
                while not stop.is_set():
                    answers.append(http.get(f"/{names[index % 10]}?c={index}").text)

        def slow_writer() -> None:
            # rewrite the whole file in pieces, as an editor or cp over a slow disk does,
            # three times over; a prefix of it is a valid config with fewer routes
            for _ in range(2):
                with config.open("w") as file:
                    for line in full.splitlines(keepends=True):
                        file.write(line)
                        file.flush()
                        time.sleep(0.4)

        with ThreadPoolExecutor(17) as pool:
            clients = [pool.submit(client, index) for index in range(16)]
            pool.submit(slow_writer).result()
            time.sleep(2.5)  # the finished file settles and is installed again
            stop.set()
            for future in clients:
                future.result()
        assert answers and "from upstream" not in answers
        assert upstream.connections == 0
        loads = [line for line in proxy.log().splitlines() if "routes go to Lambda" in line]
        assert loads and all("10 of 10 routes" in line for line in loads)  # never a partial one


BIG = b"0123456789abcdef" * (2 * 1024 * 1024 // 16)  # 2 MB, over stream_large_bodies=1m


def stream_routes(lambda_port: int) -> list[dict[str, Any]]:
    forward = {"forward_request_body": True, "forward_request_method": True}
    return [
        lambda_route("fwd", lambda_port, **forward),
        lambda_route("strict", lambda_port, skip_large_bodies=False, **forward),
        lambda_route("skip", lambda_port, **forward),
    ]


def chunks(data: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def forwarded_body(response: httpx.Response) -> bytes:
    import base64

    assert response.status_code == 200, response.text
    event = response.json()
    body = event["request_body"]
    return base64.b64decode(body) if event.get("request_body_base64") else body.encode()


def streaming_reverse_proxy(
    config: Path, upstream: CountingUpstream, tmp_path: Path
) -> AbstractContextManager[Mitmdump]:
    """mitmdump in front of ``upstream``, streaming bodies over 1 MB."""
    return run_mitmdump(
        config,
        "--mode",
        f"reverse:http://127.0.0.1:{upstream.port}",
        "--set",
        "stream_large_bodies=1m",
        tmp_path=tmp_path,
    )


def check_routed_big_bodies(http: httpx.Client, base: str) -> None:
    """A 2 MB body with Content-Length and a chunked one both reach the function."""
    assert forwarded_body(http.post(f"{base}/fwd", content=BIG)) == BIG
    assert forwarded_body(http.put(f"{base}/fwd", content=chunks(BIG))) == BIG


@pytest.mark.parametrize("mode", ["reverse", "regular", "upstream"])
def test_stream_large_bodies_never_sends_a_routed_flow_upstream(
    local_lambda: Any, upstream: CountingUpstream, tmp_path: Path, mode: str
) -> None:
    config = tmp_path / "kong.yaml"
    config.write_text(config_text(stream_routes(local_lambda.port)))
    mode_args = {
        "reverse": ["--mode", f"reverse:http://127.0.0.1:{upstream.port}"],
        "regular": [],
        "upstream": ["--mode", f"upstream:http://127.0.0.1:{upstream.port}"],
    }[mode]
    with run_mitmdump(
        config, *mode_args, "--set", "stream_large_bodies=1m", tmp_path=tmp_path
    ) as proxy:
        ca = str(proxy.confdir / "mitmproxy-ca-cert.pem")
        if mode == "reverse":
            with httpx.Client(base_url=proxy.url, timeout=60) as http:
                check_routed_big_bodies(http, "")
        else:
            with httpx.Client(proxy=proxy.url, verify=ca, timeout=60) as http:
                check_routed_big_bodies(http, "http://api.example.test")
                if mode in ("regular", "upstream"):  # HTTPS interception
                    check_routed_big_bodies(http, "https://api.example.test")
        assert upstream.connections == 0
        assert "Traceback" not in proxy.log()
        # the counter counts: an unrouted big upload is streamed to the upstream
        if mode == "reverse":
            with httpx.Client(base_url=proxy.url, timeout=60) as http:
                assert http.post("/unrouted", content=BIG).text == "from upstream"
            assert upstream.connections == 1


def test_http2_client_with_a_big_body(
    local_lambda: Any, upstream: CountingUpstream, tmp_path: Path
) -> None:
    import shutil
    import subprocess

    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed")
    config = tmp_path / "kong.yaml"
    config.write_text(config_text(stream_routes(local_lambda.port)))
    body_file = tmp_path / "body"
    body_file.write_bytes(BIG)
    with run_mitmdump(
        config,
        "--mode",
        f"reverse:http://127.0.0.1:{upstream.port}",
        "--set",
        "stream_large_bodies=1m",
        tmp_path=tmp_path,
    ) as proxy:
        ca = proxy.confdir / "mitmproxy-ca-cert.pem"
        for extra in ([], ["-H", "Transfer-Encoding: chunked"]):
            completed = subprocess.run(
                [
                    curl,
                    "-s",
                    "--http2",
                    "--cacert",
                    str(ca),
                    "--data-binary",
                    f"@{body_file}",
                    *extra,
                    "-D",
                    "-",
                    f"https://localhost:{proxy.port}/fwd",
                ],
                capture_output=True,
                timeout=60,
                check=True,
            )
            head, _, body = completed.stdout.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/2 200"), proxy.log()[-3000:]
            assert len(body) > len(BIG)  # the event, with the body in it
        assert upstream.connections == 0


def test_memory_bounds_413_and_dropped_bodies(
    local_lambda: Any, upstream: CountingUpstream, tmp_path: Path
) -> None:
    config = tmp_path / "kong.yaml"
    config.write_text(config_text(stream_routes(local_lambda.port)))
    huge = b"z" * (8 * 1024 * 1024)
    with (
        run_mitmdump(
            config, "--mode", f"reverse:http://127.0.0.1:{upstream.port}", tmp_path=tmp_path
        ) as proxy,
        httpx.Client(base_url=proxy.url, timeout=60) as http,
    ):
        # skip_large_bodies off: a body that cannot fit Lambda's payload gets an early 413
        for content in (huge, chunks(huge)):
            refused = http.post("/strict", content=content)
            assert refused.status_code == 413
            assert refused.headers["content-type"].startswith("application/json")
            document = refused.json()
            assert document["message"] == "Payload Too Large"
            assert "lambda_max_request_body" in document["error"]
        # skip_large_bodies on (Kong's default): read and dropped, the event sent without it
        for content in (huge, chunks(huge)):
            skipped = http.post("/skip", content=content)
            assert skipped.status_code == 200, skipped.text
            assert skipped.json()["request_body"] == ""
            assert skipped.json()["request_method"] == "POST"
        assert "exceeds lambda_body_buffer_size" in proxy.log()
        assert upstream.connections == 0
        assert "Traceback" not in proxy.log()


def test_invoke_response_over_the_cap_is_a_502(local_lambda: Any, tmp_path: Path) -> None:
    config = tmp_path / "kong.yaml"
    routes = [lambda_route("echo", local_lambda.port)]
    config.write_text(config_text(routes))
    with (
        run_mitmdump(config, "--set", "lambda_max_response_body=1m", tmp_path=tmp_path) as proxy,
        httpx.Client(proxy=proxy.url, timeout=60) as http,
    ):
        # echo answers with the event: the body's JSON object
        small = http.post("http://api.example.test/echo", json={"a": "x" * 1_000_000})
        assert small.status_code == 200, small.text[:300]
        big = http.post("http://api.example.test/echo", json={"a": "x" * 2_000_000})
        assert big.status_code == 502
        assert big.json()["message"] == "Bad Gateway"
        assert "lambda_max_response_body" in big.json()["error"]
        assert "Traceback" not in proxy.log()


@pytest.mark.parametrize("master", ["mitmdump", "lean"])
def test_early_answers_to_big_bodies_under_stream_large_bodies(
    local_lambda: Any, upstream: CountingUpstream, tmp_path: Path, master: str, monkeypatch: Any
) -> None:
    """A routed flow answered without its function (Kong's 401, an https-only route's
    426) whose body mitmproxy has already decided to stream, sent as the very first request
    after start-up (while the intake endpoint may still be starting): before, mitmproxy
    crashed the connection ("Can't set a response and enable streaming at the same time")
    and the client hung."""
    import tests.mitmdump_process as harness

    monkeypatch.setattr(harness, "MASTER", master)
    guarded = lambda_route("guarded", local_lambda.port)
    guarded["plugins"].append({"name": "key-auth"})
    secure = lambda_route("secure", local_lambda.port)
    secure.update(protocols=["https"], https_redirect_status_code=426)
    config = tmp_path / "kong.yaml"
    config.write_text(config_text([guarded, secure]))
    for content in (BIG, chunks(BIG)):
        with (
            streaming_reverse_proxy(config, upstream, tmp_path) as proxy,
            httpx.Client(base_url=proxy.url, timeout=30) as http,
        ):
            body = content if isinstance(content, bytes) else chunks(BIG)
            refused = http.post("/guarded", content=body)
            assert refused.status_code == 401, proxy.log()[-2000:]
            assert "No API key found" in refused.text
            upgrade = http.post("/secure", content=chunks(BIG))
            assert upgrade.status_code == 426
            assert upgrade.json() == {"message": "Please use HTTPS protocol"}
            assert http.post("/guarded?apikey=none", content=BIG).status_code == 401
            assert "crashed" not in proxy.log() and "Traceback" not in proxy.log()
    assert upstream.connections == 0


def test_script_reloaded_into_a_running_mitmdump_keeps_routing_big_bodies(
    local_lambda: Any, upstream: CountingUpstream, tmp_path: Path, monkeypatch: Any
) -> None:
    """Editing the script reloads it into the running proxy: the new addon instance's
    intake endpoint (a new one, started when the script is loaded) serves big bodies."""
    import shutil

    import tests.mitmdump_process as harness

    entry = tmp_path / "entry" / "lambda_route.py"
    entry.parent.mkdir()
    shutil.copy(harness.ADDON, entry)
    monkeypatch.setattr(harness, "ADDON", entry)
    monkeypatch.setattr(harness, "MASTER", "mitmdump")
    config = tmp_path / "kong.yaml"
    config.write_text(config_text(stream_routes(local_lambda.port)))
    with (
        streaming_reverse_proxy(config, upstream, tmp_path) as proxy,
        httpx.Client(base_url=proxy.url, timeout=30) as http,
    ):
        check_routed_big_bodies(http, "")
        entry.write_text(entry.read_text() + "\n# edited\n")
        wait_for(lambda: proxy.log().count("Loading script") >= 2, timeout=20)
        proxy.wait_for_log("routes go to Lambda", timeout=20)
        check_routed_big_bodies(http, "")
        assert "Traceback" not in proxy.log() and "crashed" not in proxy.log()
    assert upstream.connections == 0

"""End to end: traffic meant for Lambda never reaches the upstream (an upstream that counts
connections sees none), whatever mitmproxy's options, and a config file still being written
is never installed. Real mitmdump, the local Lambda server, real HTTP clients."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.local_lambda_fixtures import start_local_lambda
from tests.mitmdump_process import run_mitmdump

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

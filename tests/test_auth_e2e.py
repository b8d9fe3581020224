"""End to end: Kong consumers through a real mitmdump and the local Lambda server. A
consumer identified by key-auth or basic-auth gets their own aws-lambda plugin (another
function than the route's); a missing or wrong credential gets Kong's 401."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.local_lambda_fixtures import start_local_lambda
from tests.mitmdump_process import Mitmdump, run_mitmdump

pytestmark = pytest.mark.e2e

FUNCTIONS = Path(__file__).parent / "e2e_functions" / "functions.yaml"
SECRET = "auth-e2e-secret"


class _Origin(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"from origin"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mitmdump]:
    tmp_path = tmp_path_factory.mktemp("auth-e2e")
    origin = ThreadingHTTPServer(("127.0.0.1", 0), _Origin)
    threading.Thread(target=origin.serve_forever, daemon=True).start()
    with start_local_lambda(FUNCTIONS, access_key="k", secret_key=SECRET) as server:

        def aws_lambda(function: str, **extra: object) -> dict[str, object]:
            config = {
                "function_name": function,
                "aws_region": "us-east-1",
                "aws_key": "k",
                "aws_secret": SECRET,
                "host": "127.0.0.1",
                "port": server.port,
                "disable_https": True,
                **extra,
            }
            return {"name": "aws-lambda", "config": config}

        kong = {
            "_format_version": "3.0",
            "routes": [
                {
                    "name": "orders",
                    "paths": ["/orders"],
                    "plugins": [
                        {"name": "key-auth", "config": {"hide_credentials": True}},
                        aws_lambda("echo", forward_request_uri=True, forward_request_headers=True),
                    ],
                },
                {
                    "name": "billing",
                    "paths": ["/billing"],
                    "plugins": [{"name": "basic-auth"}, aws_lambda("echo")],
                },
                {"name": "origin", "paths": ["/origin"], "plugins": [{"name": "key-auth"}]},
            ],
            "consumers": [
                {
                    "username": "alice",
                    "keyauth_credentials": [{"key": "alice-key"}],
                    "plugins": [aws_lambda("proxy", is_proxy_integration=True)],
                },
                {
                    "username": "bob",
                    "keyauth_credentials": [{"key": "bob-key"}],
                    "basicauth_credentials": [{"username": "bob", "password": "pw"}],
                },
            ],
            "plugins": [
                {
                    "consumer": "bob",
                    "route": "billing",
                    **aws_lambda("proxy", is_proxy_integration=True),
                }
            ],
        }
        config = tmp_path / "kong.yaml"
        config.write_text(yaml.safe_dump(kong))
        mode = f"reverse:http://127.0.0.1:{origin.server_address[1]}"
        with run_mitmdump(config, "--mode", mode, tmp_path=tmp_path) as mitmdump:
            yield mitmdump
    origin.shutdown()
    origin.server_close()


def test_consumer_plugin_chooses_another_function(proxy: Mitmdump) -> None:
    with httpx.Client(base_url=proxy.url, timeout=30) as http:
        alice = http.get("/orders/1?apikey=alice-key")
        assert alice.status_code == 201  # the "proxy" function, alice's plugin
        assert alice.headers["x-from-function"] == "yes"
        bob = http.get("/orders/1", headers={"apikey": "bob-key"})
        assert bob.status_code == 200  # the route's "echo" function
        event = bob.json()
        assert event["request_uri"] == "/orders/1"
        assert event["request_headers"]["x-consumer-username"] == "bob"
        assert "apikey" not in event["request_headers"]  # hide_credentials
        basic = "Basic " + base64.b64encode(b"bob:pw").decode()
        assert http.get("/billing", headers={"Authorization": basic}).status_code == 201
        assert http.get("/billing?apikey=bob-key").status_code == 401  # no key-auth there


def test_kong_401s(proxy: Mitmdump) -> None:
    with httpx.Client(base_url=proxy.url, timeout=30) as http:
        missing = http.get("/orders/1")
        assert missing.status_code == 401
        assert missing.json()["message"] == "No API key found in request"
        assert missing.headers["www-authenticate"] == "Key"
        wrong = http.get("/orders/1?apikey=nope")
        assert (wrong.status_code, wrong.json()["message"]) == (401, "Unauthorized")
        no_basic = http.get("/billing")
        assert (no_basic.status_code, no_basic.json()["message"]) == (401, "Unauthorized")
        assert no_basic.headers["www-authenticate"] == 'Basic realm="service"'
        # a route without aws-lambda: key-auth still guards it, then the origin answers
        assert http.get("/origin").status_code == 401
        assert http.get("/origin?apikey=bob-key").text == "from origin"
    assert "not applied" not in proxy.log()

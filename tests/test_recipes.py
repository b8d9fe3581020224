"""The README's recipes, end to end, against mitmdump and ``lambda-route --lean``."""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.local_lambda_fixtures import start_local_lambda
from tests.mitmdump_process import (
    proxy_master,  # noqa: F401 (fixture: every test runs against mitmdump and --lean)
    run_mitmdump,
)

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("proxy_master")]


@pytest.fixture(scope="module")
def local_lambda() -> Iterator[Any]:
    with start_local_lambda() as server:
        yield server


def plugin(function: str, port: int, **extra: Any) -> dict[str, Any]:
    return {
        "name": "aws-lambda",
        "config": {
            "function_name": function,
            "aws_region": "us-east-1",
            "aws_key": "test",
            "host": "127.0.0.1",
            "port": port,
            "disable_https": True,
            **extra,
        },
    }


def write(path: Path, config: dict[str, Any]) -> Path:
    path.write_text(json.dumps({"_format_version": "3.0", **config}))
    return path


def test_https_staging_traffic_in_regular_mode(local_lambda: Any, tmp_path: Path) -> None:
    """curl trusts mitmproxy's CA (--cacert); the routed HTTPS request never reaches the
    (unresolvable) origin, it is answered by the function."""
    route_plugin = plugin("proxy", local_lambda.port, aws_secret="test")
    route_plugin["config"] |= {"awsgateway_compatible": True, "is_proxy_integration": True}
    config = write(
        tmp_path / "staging.yaml",
        {
            "services": [
                {
                    "name": "staging-api",
                    "url": "https://staging.example.invalid",
                    "routes": [
                        {
                            "name": "orders",
                            "hosts": ["staging.example.invalid"],
                            "paths": ["/api/orders"],
                            "strip_path": False,
                            "plugins": [route_plugin],
                        }
                    ],
                }
            ]
        },
    )
    with run_mitmdump(config, tmp_path=tmp_path) as proxy:
        ca = proxy.confdir / "mitmproxy-ca-cert.pem"
        completed = subprocess.run(
            [
                "curl",
                "-sS",
                "--cacert",
                str(ca),
                "-x",
                proxy.url,
                "https://staging.example.invalid/api/orders/42",
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert completed.returncode == 0, completed.stderr
        answer = json.loads(completed.stdout)
        assert answer["path"] == "/api/orders/42"
        # without the CA, TLS interception is refused by the client (the recipe's point)
        untrusted = subprocess.run(
            ["curl", "-sS", "-x", proxy.url, "https://staging.example.invalid/api/orders/42"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert untrusted.returncode != 0


class _App(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"from": "app", "path": self.path}).encode()
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def app() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _App)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()


def test_mock_one_backend_in_reverse_mode(
    local_lambda: Any, app: ThreadingHTTPServer, tmp_path: Path
) -> None:
    """Also the Kong move: another plugin is reported and skipped, the secret comes from
    Kong's env vault."""
    app_url = f"http://127.0.0.1:{app.server_port}"
    payments = plugin("echo", local_lambda.port, aws_secret="{vault://env/recipe-secret}")
    config = write(
        tmp_path / "mock-payments.yaml",
        {
            "services": [
                {
                    "name": "payments",
                    "url": app_url,
                    "routes": [{"name": "payments", "paths": ["/payments"], "plugins": [payments]}],
                }
            ],
            "plugins": [{"name": "correlation-id", "service": "payments"}],
        },
    )
    env = {"RECIPE_SECRET": "test"}
    with run_mitmdump(config, "--mode", f"reverse:{app_url}", tmp_path=tmp_path, env=env) as proxy:
        mocked = httpx.get(f"{proxy.url}/payments?id=7", timeout=30)
        assert mocked.status_code == 200, mocked.text
        assert mocked.json()["greeting"] == "hi"  # configs/functions.yaml's echo function
        passed = httpx.get(f"{proxy.url}/catalog/1", timeout=30)
        assert passed.json() == {"from": "app", "path": "/catalog/1"}
        assert "correlation-id" in proxy.log()

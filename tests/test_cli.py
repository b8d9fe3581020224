"""The ``lambda-route`` command and scripts/demo, with real processes on loopback."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from lambdaroute import cli
from tests.local_lambda_fixtures import start_local_lambda
from tests.mitmdump_process import ROOT, free_port, wait_for

pytestmark = pytest.mark.e2e
EXAMPLE = ROOT / "configs" / "example.yaml"


def test_split_arguments_keeps_mitmproxy_options_after_config() -> None:
    own, config, rest = cli.split_arguments(["--lean", "c.yaml", "--mode", "reverse:x", "-q"])
    assert (own, config, rest) == ({"--lean"}, "c.yaml", ["--mode", "reverse:x", "-q"])


def test_an_option_before_config_is_an_error_naming_it() -> None:
    with pytest.raises(SystemExit, match="-p: options for mitmproxy go after CONFIG"):
        cli.main(["-p", "8080", "c.yaml"])


def test_one_master_at_a_time() -> None:
    with pytest.raises(SystemExit, match="choose one of --mitmdump, --web"):
        cli.main(["--web", "--mitmdump", "c.yaml"])


def test_addon_path_is_the_installed_addon_file(capsys: pytest.CaptureFixture[str]) -> None:
    cli.main(["--addon-path"])
    path = Path(capsys.readouterr().out.strip())
    assert path.name == "mitmproxy_addon.py" and path.parent.name == "lambdaroute"
    assert path.is_file()


def example_config(tmp_path: Path, lambda_port: int) -> Path:
    config = tmp_path / "example.yaml"
    config.write_text(EXAMPLE.read_text().replace("port: 9001", f"port: {lambda_port}"))
    return config


@pytest.fixture(scope="module")
def local_lambda() -> Iterator[object]:
    with start_local_lambda() as server:
        yield server


def start(command: list[str], log: Path, cwd: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            start_new_session=True,
        )


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def wait_listening(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"exited with {process.returncode}:\n{log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"not listening on {port}:\n{log.read_text()}")


@pytest.mark.parametrize(
    "mode", [[], ["--lean"], ["--mitmdump"], ["--web", "--set", "web_open_browser=false"]]
)
def test_lambda_route_runs_a_config_from_another_directory(
    mode: list[str], local_lambda: object, tmp_path: Path
) -> None:
    config = example_config(tmp_path, local_lambda.port)  # type: ignore[attr-defined]
    port = free_port()
    web = ["--set", f"web_port={free_port()}"] if "--web" in mode else []
    command = [sys.executable, "-m", "lambdaroute", *mode[:1], config.name, *mode[1:], *web]
    command += [
        "--listen-host",
        "127.0.0.1",
        "-p",
        str(port),
        "--mode",
        "reverse:http://127.0.0.1:9",
    ]
    log = tmp_path / "proxy.log"
    process = start(command, log, cwd=tmp_path)
    try:
        wait_listening(port, process, log)
        response = httpx.get(f"http://127.0.0.1:{port}/hello/cli", timeout=30)
        assert response.status_code == 200, response.text
        assert response.json()["path"] == "/hello/cli"
        if mode[:1] in ([], ["--lean"]):  # the lean core's one-line flow log names the function
            wait_for(lambda: "/hello/cli -> 200" in log.read_text())
            assert "lambda:proxy" in log.read_text()
    finally:
        stop(process)


class _EchoHeaders(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps(dict(self.headers.items())).encode()
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


LATE_OPTION_SCRIPT = """
from mitmproxy import ctx


def running():
    ctx.options.update(modify_headers=["/~q/x-lean-test/loaded"])
"""


@pytest.mark.parametrize("how", ["--set", "script sets it while running"])
def test_lean_loads_the_addon_an_option_needs(
    how: str, local_lambda: object, tmp_path: Path
) -> None:
    """modify_headers belongs to an addon the lean set leaves out: it is loaded and applied
    to a passed-through flow, never ignored, also when a script sets it after start-up."""
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), _EchoHeaders)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    config = example_config(tmp_path, local_lambda.port)  # type: ignore[attr-defined]
    port = free_port()
    command = [sys.executable, "-m", "lambdaroute", "--lean", str(config)]
    command += ["--listen-host", "127.0.0.1", "-p", str(port)]
    if how == "--set":
        command += ["--set", "modify_headers=/~q/x-lean-test/loaded"]
    else:
        script = tmp_path / "late_option.py"
        script.write_text(LATE_OPTION_SCRIPT)
        command += ["-s", str(script)]
    log = tmp_path / "proxy.log"
    process = start(command, log, cwd=tmp_path)
    try:
        wait_listening(port, process, log)
        wait_for(lambda: "--lean: loading ModifyHeaders for modify_headers" in log.read_text())
        with httpx.Client(proxy=f"http://127.0.0.1:{port}", timeout=30) as client:
            seen = client.get(f"http://127.0.0.1:{upstream.server_port}/").json()
        assert seen.get("x-lean-test") == "loaded"
    finally:
        stop(process)
        upstream.shutdown()


def test_lean_serves_the_mitm_it_page(local_lambda: object, tmp_path: Path) -> None:
    """As mitmdump: a client of the regular proxy fetches the CA from http://mitm.it/."""
    config = example_config(tmp_path, local_lambda.port)  # type: ignore[attr-defined]
    port = free_port()
    command = [sys.executable, "-m", "lambdaroute", "--lean", str(config)]
    command += ["--listen-host", "127.0.0.1", "-p", str(port)]
    command += ["--set", f"confdir={tmp_path / 'conf'}"]
    log = tmp_path / "proxy.log"
    process = start(command, log, cwd=tmp_path)
    try:
        wait_listening(port, process, log)
        with httpx.Client(proxy=f"http://127.0.0.1:{port}", timeout=30) as client:
            page = client.get("http://mitm.it/cert/pem")
        assert page.status_code == 200
        assert page.text.startswith("-----BEGIN CERTIFICATE-----")
    finally:
        stop(process)


def test_lean_saves_flows_with_w(local_lambda: object, tmp_path: Path) -> None:
    """-w (save_stream_file) loads mitmproxy's Save addon: routed flows are written with
    the addon's record, as with mitmdump."""
    from mitmproxy import io

    config = example_config(tmp_path, local_lambda.port)  # type: ignore[attr-defined]
    port = free_port()
    saved = tmp_path / "flows.mitm"
    command = [sys.executable, "-m", "lambdaroute", "--lean", str(config)]
    command += ["--listen-host", "127.0.0.1", "-p", str(port), "-w", str(saved)]
    command += ["--mode", "reverse:http://127.0.0.1:9"]
    log = tmp_path / "proxy.log"
    process = start(command, log, cwd=tmp_path)
    try:
        wait_listening(port, process, log)
        assert httpx.get(f"http://127.0.0.1:{port}/hello/w", timeout=30).status_code == 200
    finally:
        stop(process)  # Save closes the file on shutdown
    assert "--lean: loading Save for save_stream_file" in log.read_text()
    with saved.open("rb") as file:
        flows = list(io.FlowReader(file).stream())
    assert [f.request.path for f in flows] == ["/hello/w"]
    assert flows[0].metadata["lambda_route"]["function"] == "proxy"


def test_demo_stops_with_the_servers_message_when_the_lambda_port_is_taken() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        lambda_port = taken.getsockname()[1]
        completed = subprocess.run(
            ["bash", str(ROOT / "scripts" / "demo")],
            env={
                **os.environ,
                "LAMBDA_PORT": str(lambda_port),
                "PROXY_PORT": str(free_port()),
                "LAMBDA_ROUTE_VENV": sys.prefix,
            },
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert completed.returncode == 1
    assert f"cannot listen on 127.0.0.1:{lambda_port}" in completed.stderr
    assert "did not start" in completed.stderr
    assert "listening at" not in completed.stdout  # the proxy never started


def test_demo_follows_lambda_port_and_binds_loopback(tmp_path: Path) -> None:
    proxy_port, lambda_port = free_port(), free_port()
    log = tmp_path / "demo.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["bash", str(ROOT / "scripts" / "demo")],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={
                **os.environ,
                "LAMBDA_PORT": str(lambda_port),
                "PROXY_PORT": str(proxy_port),
                "LAMBDA_ROUTE_VENV": sys.prefix,
                "PYTHONUNBUFFERED": "1",
            },
            start_new_session=True,
        )
    try:
        wait_listening(proxy_port, process, log)
        response = httpx.get(f"http://127.0.0.1:{proxy_port}/hello/world", timeout=30)
        assert response.status_code == 200, response.text
        assert f"listening at 127.0.0.1:{proxy_port}" in log.read_text()
    finally:
        stop(process)

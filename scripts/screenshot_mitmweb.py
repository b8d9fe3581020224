"""Take the README's screenshot of mitmweb showing the Lambda content view (not run by CI).

Starts the local Lambda server with configs/functions.yaml and mitmweb with a route whose
function raises (API Gateway event, proxy integration), sends one request, and captures
the flow's response tab with headless Chromium (Debian: apt-get install chromium):

    .venv/bin/python scripts/screenshot_mitmweb.py [--out scripts/screenshots/...png]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from mitmproxy import version

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DEFAULT_OUT = ROOT / "scripts" / "screenshots" / "mitmweb-lambda-view.png"
NEEDS_TOKEN = int(version.VERSION.split(".")[0]) >= 12


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{process.args[0]} exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listens on {port}")


def start_local_lambda(log: Path) -> tuple[subprocess.Popen[bytes], int]:
    command = [sys.executable, str(ROOT / "scripts" / "local_lambda.py")]
    command += ["--functions", str(ROOT / "configs" / "functions.yaml")]
    command += ["--host", "127.0.0.1", "--port", "0", "--access-key", "test"]
    command += ["--secret-key", "test"]
    process = subprocess.Popen(command, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = re.search(r"listening on http://\S+:(\d+)", log.read_text(errors="replace"))
        if found:
            return process, int(found.group(1))
        time.sleep(0.1)
    raise SystemExit("the local Lambda server did not start:\n" + log.read_text())


def kong_config(lambda_port: int) -> dict[str, object]:
    plugin = {
        "function_name": "error",
        "aws_region": "us-east-1",
        "aws_key": "test",
        "aws_secret": "test",
        "host": "127.0.0.1",
        "port": lambda_port,
        "disable_https": True,
        "awsgateway_compatible": True,
        "is_proxy_integration": True,
    }
    checkout = {"name": "checkout", "paths": ["/checkout"], "strip_path": False}
    checkout["plugins"] = [{"name": "aws-lambda", "config": plugin}]
    orders = {"name": "orders", "paths": ["/orders"]}
    orders["plugins"] = [
        {
            "name": "aws-lambda",
            "config": {**plugin, "function_name": "echo", "is_proxy_integration": False},
        }
    ]
    return {
        "_format_version": "3.0",
        "services": [{"name": "shop", "url": "http://127.0.0.1:9", "routes": [orders, checkout]}],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--window-size", default="1400,1000")
    args = parser.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("needs Chromium (Debian: apt-get install chromium)")

    work = Path(tempfile.mkdtemp(prefix="lambda-route-shot-"))
    processes: list[subprocess.Popen[bytes]] = []
    try:
        local_lambda, lambda_port = start_local_lambda(work / "local-lambda.log")
        processes.append(local_lambda)
        config = work / "kong.json"
        config.write_text(json.dumps(kong_config(lambda_port)))
        proxy_port, web_port, token = free_port(), free_port(), secrets.token_hex(16)
        command = [str(BIN / "mitmweb"), "-s", str(ROOT / "addon" / "lambda_route.py")]
        command += ["--listen-host", "127.0.0.1", "--listen-port", str(proxy_port)]
        command += ["--mode", "reverse:http://127.0.0.1:9", "--set", f"confdir={work}"]
        command += ["--set", f"lambda_config={config}", "--set", "web_open_browser=false"]
        command += ["--set", "web_host=127.0.0.1", "--set", f"web_port={web_port}"]
        if NEEDS_TOKEN:
            command += ["--set", f"web_password={token}"]
        mitmweb = subprocess.Popen(
            command, stdout=(work / "mitmweb.log").open("wb"), stderr=subprocess.STDOUT
        )
        processes.append(mitmweb)
        wait_for_port(proxy_port, mitmweb)
        wait_for_port(web_port, mitmweb)

        with urllib.request.urlopen(f"http://127.0.0.1:{proxy_port}/orders?id=7") as answer:
            print(f"/orders -> {answer.status}")
        body = json.dumps({"order": 7, "card": "4242"}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{proxy_port}/checkout?order=7",
            data=body,
            headers={"content-type": "application/json"},
        )
        try:
            urllib.request.urlopen(request, timeout=30)
        except urllib.error.HTTPError as failed:  # the 502 is the point
            print(f"/checkout -> {failed.code} {failed.read().decode()}")

        auth = f"?token={token}" if NEEDS_TOKEN else ""
        with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/flows{auth}") as listed:
            flows = json.load(listed)
        flow_id = next(f["id"] for f in flows if f["request"]["path"].startswith("/checkout"))
        url = f"http://127.0.0.1:{web_port}/{auth}#/flows/{flow_id}/response"
        args.out.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                f"--user-data-dir={work / 'chromium'}",
                "--virtual-time-budget=8000",
                f"--window-size={args.window_size}",
                f"--screenshot={args.out}",
                url,
            ],
            check=True,
            env={**os.environ, "HOME": str(work)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=120,
        )
        print(f"wrote {args.out}")
    finally:
        for process in reversed(processes):
            process.terminate()
            process.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

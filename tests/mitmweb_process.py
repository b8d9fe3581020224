"""Run a real mitmweb with the addon on loopback, for tests that read its HTTP API."""

from __future__ import annotations

import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from mitmproxy import version

from tests.mitmdump_process import ADDON, free_port, logged_process

MITMWEB = Path(sys.executable).parent / "mitmweb"
#: mitmproxy 12 guards the web API with a token (web_password); 11 has no such option
NEEDS_TOKEN = int(version.VERSION.split(".")[0]) >= 12


@dataclass
class Mitmweb:
    process: subprocess.Popen[bytes]
    proxy_port: int
    web_port: int
    token: str
    log_path: Path

    @property
    def proxy_url(self) -> str:
        return f"http://127.0.0.1:{self.proxy_port}"

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    @contextmanager
    def api(self) -> Iterator[httpx.Client]:
        """A client of the web API with the token (12) and an XSRF token for POSTs: tornado
        accepts any token that matches the cookie (11's name and 12's)."""
        xsrf = secrets.token_hex(16)
        headers = {"X-XSRFToken": xsrf}
        if NEEDS_TOKEN:
            headers["Authorization"] = f"Bearer {self.token}"
        cookies = {"_xsrf": xsrf, "_mitmproxy_xsrf": xsrf}
        with httpx.Client(
            base_url=self.web_url, headers=headers, cookies=cookies, timeout=30
        ) as client:
            yield client


def view_text(document: dict[str, Any]) -> str:
    """The text of a content-view answer: 12 sends ``text``, 11 ``lines`` of (style, text)."""
    if "text" in document:
        return str(document["text"])
    return "\n".join("".join(text for _, text in line) for line in document["lines"])


def view_name(document: dict[str, Any]) -> str:
    """The view that rendered it: 12 names it, 11 puts the view's description first."""
    return str(document.get("view_name") or document["description"])


@contextmanager
def run_mitmweb(config: Path, *extra: str, tmp_path: Path) -> Iterator[Mitmweb]:
    proxy_port, web_port = free_port(), free_port()
    token = secrets.token_hex(16)
    confdir = tmp_path / "mitmproxy-conf"
    confdir.mkdir(exist_ok=True)
    command = [
        str(MITMWEB),
        "-s",
        str(ADDON),
        "--listen-host",
        "127.0.0.1",
        "--listen-port",
        str(proxy_port),
        "--set",
        f"confdir={confdir}",
        "--set",
        f"lambda_config={config}",
        "--set",
        "web_open_browser=false",
        "--set",
        "web_host=127.0.0.1",
        "--set",
        f"web_port={web_port}",
        *(["--set", f"web_password={token}"] if NEEDS_TOKEN else []),
        *extra,
    ]
    log_path = tmp_path / f"mitmweb-{web_port}.log"
    with logged_process(command, log_path) as process:
        web = Mitmweb(process, proxy_port, web_port, token, log_path)
        _wait_for_ports(web, (proxy_port, web_port), timeout=30)
        yield web


def _wait_for_ports(web: Mitmweb, ports: tuple[int, ...], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for port in ports:
        while True:
            if web.process.poll() is not None:
                raise AssertionError(f"mitmweb exited with {web.process.returncode}:\n{web.log()}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError(
                        f"mitmweb did not listen on {port}:\n{web.log()}"
                    ) from None
                time.sleep(0.05)

"""The fault matrix (issue 8): a real mitmdump with the addon, routes pointed at crafted
loopback endpoints that fail in every way we know, and a real HTTP client.

Each fault has its defined status; no call outlives its route's timeout (plus a margin for
a loaded CI machine); mitmdump's log holds no traceback; and no secret (access key id,
secret, session token, signature) reaches the client, the log or the saved flows.
"""

from __future__ import annotations

import json
import os
import re
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.fakeaws import server_ssl_context
from tests.local_lambda_fixtures import start_local_lambda
from tests.mitmdump_process import Mitmdump, free_port, run_mitmdump

pytestmark = pytest.mark.e2e

ACCESS_KEY = "AKIAFAULTMATRIX00001"
SECRET = "fault-secret-Hq93kLmZ"
ROLE_KEY = "ASIAFAULTSESSION0001"
ROLE_SECRET = "role-secret-Pw82nVbX"
ROLE_TOKEN = "FwoGZXIvYXdzEFAULT" + "Tk" * 80  # a session token's shape
SECRETS = (ACCESS_KEY, SECRET, ROLE_KEY, ROLE_SECRET, ROLE_TOKEN)
ROUTE_TIMEOUT_MS = 1500
#: a call may take the route timeout plus this before it counts as a hang
HANG_MARGIN_S = 3.0
STS_TIME = "2099-01-01T00:00:00Z"
_SIGNATURE = re.compile(r"Signature=([0-9a-f]{64})")


def _head(status: str, *headers: str) -> bytes:
    return ("\r\n".join([f"HTTP/1.1 {status}", *headers]) + "\r\n\r\n").encode()


def _json(status: str, document: Any, *headers: str) -> bytes:
    body = json.dumps(document).encode()
    return (
        _head(status, "Content-Type: application/json", f"Content-Length: {len(body)}", *headers)
        + body
    )


def _canonical_dump(auth: str, token: str) -> str:
    """What AWS's real InvalidSignatureException says (canonical request and string to sign),
    plus an echo of the Authorization header, as a hostile endpoint would."""
    return (
        "The request signature we calculated does not match the signature you provided. "
        "Check your AWS Secret Access Key and signing method. Consult the service "
        "documentation for details.\n\nThe Canonical String for this request should have "
        "been\n'POST\n/2015-03-31/functions/echo/invocations\n\nhost:127.0.0.1\n"
        f"x-amz-date:20990101T000000Z\nx-amz-security-token:{token}\n\n"
        "host;x-amz-date;x-amz-security-token\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'\n\n"
        f"The String-to-Sign should have been\n'AWS4-HMAC-SHA256\n20990101T000000Z\n'"
        f" (you sent {auth}, X-Amz-Security-Token={token})"
    )


class Crafted:
    """One loopback endpoint serving Invoke (by function name) and STS, failing on purpose."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.release = threading.Event()  # frees the handlers that hold a connection
        crafted = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                self.close_connection = True
                answer = crafted.answer(self.path, dict(self.headers.items()), body)
                if answer is None:  # accept, then silence
                    crafted.release.wait(30)
                    return
                self.wfile.write(answer)
                self.wfile.flush()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def answer(self, path: str, headers: dict[str, str], body: bytes) -> bytes | None:
        if path == "/":  # STS (query protocol)
            return self._sts(body)
        name = path.split("/functions/", 1)[-1].split("/", 1)[0]
        auth = headers.get("Authorization", "")
        token = headers.get("X-Amz-Security-Token", "")
        ok = "200 OK"
        answers: dict[str, bytes | None] = {
            "ok": _json(ok, {"fine": True}),
            "silence": None,
            "close-mid-body": _head(ok, "Transfer-Encoding: chunked") + b"400\r\n" + b"x" * 10,
            "truncated-length": _head(ok, "Content-Length: 1000") + b"x" * 10,
            "bad-chunking": _head(ok, "Transfer-Encoding: chunked") + b"zz\r\nabc\r\n0\r\n\r\n",
            "oversized-head": _head(ok, *[f"X-Filler-{i}: {'v' * 1000}" for i in range(300)]),
            "oversized-body": _head(ok, f"Content-Length: {64 * 1024 * 1024}")
            + b"x" * (64 * 1024 * 1024),
            "header-injection": _head(
                ok,
                "Content-Type: text/plain",
                "X-Note: a\nSet-Cookie: injected=1",
                "Content-Length: 2",
            )
            + b"hi",
            "bad-header-name": _head(ok, "Bad Name: x", "Content-Length: 2") + b"hi",
            "nul-in-value": _head(ok, "X-A: a\x00b", "Content-Length: 2") + b"hi",
            "status-101": _json(ok, {"statusCode": 101}),
            "status-100": _json(ok, {"statusCode": "100"}),
            "status-nan": _json(ok, {"statusCode": float("nan")}),
            "status-infinity": _head(ok, "Content-Length: 25") + b'{"statusCode": Infinity}\n',
            "status-inf-string": _json(ok, {"statusCode": "inf"}),
            "not-json": _head(ok, "Content-Length: 5") + b"oops!",
            "throttled": _json(
                "429 Too Many Requests",
                {"message": "Rate Exceeded."},
                "x-amzn-ErrorType: TooManyRequestsException",
                "Retry-After: 2",
            ),
            "service-500": _json(
                "500 Internal Server Error",
                {"message": "internal"},
                "x-amzn-ErrorType: ServiceException",
            ),
            "service-503": _json(
                "503 Service Unavailable",
                {"message": "try later"},
                "x-amzn-ErrorType: EC2ThrottledException",
            ),
            "hostile-403": _json(
                f"403 Forbidden {auth}",
                {"message": _canonical_dump(auth, token)},
                f"x-amzn-ErrorType: InvalidSignatureException:{auth}",
                f"x-amzn-RequestId: {token}",
                f"Retry-After: {token}",
            ),
            "hostile-malformed": f"ICY 200 {auth} {token}\r\n\r\n".encode(),
        }
        return answers[name]

    def _sts(self, body: bytes) -> bytes:
        if b"RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fbroken" in body:
            message = _canonical_dump(f"Credential={ACCESS_KEY}/20990101/us-east-1/sts", "")
            xml = (
                '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error>'
                "<Type>Sender</Type><Code>SignatureDoesNotMatch</Code>"
                f"<Message>{message}</Message></Error><RequestId>r1</RequestId>"
                "</ErrorResponse>"
            )
            data = xml.encode()
            return (
                _head("403 Forbidden", "Content-Type: text/xml", f"Content-Length: {len(data)}")
                + data
            )
        xml = (
            '<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
            "<AssumeRoleResult><Credentials>"
            f"<AccessKeyId>{ROLE_KEY}</AccessKeyId><SecretAccessKey>{ROLE_SECRET}"
            f"</SecretAccessKey><SessionToken>{ROLE_TOKEN}</SessionToken>"
            f"<Expiration>{STS_TIME}</Expiration></Credentials>"
            "<AssumedRoleUser><AssumedRoleId>AROAFAULT:kong</AssumedRoleId>"
            "<Arn>arn:aws:sts::123456789012:assumed-role/ok/kong</Arn></AssumedRoleUser>"
            "</AssumeRoleResult><ResponseMetadata><RequestId>r2</RequestId>"
            "</ResponseMetadata></AssumeRoleResponse>"
        )
        data = xml.encode()
        return _head("200 OK", "Content-Type: text/xml", f"Content-Length: {len(data)}") + data


@dataclass(frozen=True)
class Fault:
    name: str
    status: int
    #: text the client's JSON error must contain
    says: str = ""


def plugin(port: int, function: str, **config: Any) -> dict[str, Any]:
    base = {
        "function_name": function,
        "aws_region": "us-east-1",
        "aws_key": ACCESS_KEY,
        "aws_secret": SECRET,
        "host": "127.0.0.1",
        "port": port,
        "disable_https": True,
        "timeout": ROUTE_TIMEOUT_MS,
    }
    merged = {**base, **config}
    return {"name": "aws-lambda", "config": {k: v for k, v in merged.items() if v is not None}}


PROXY_MODES = {
    "v1": {"is_proxy_integration": True},
    "gw1": {"is_proxy_integration": True, "awsgateway_compatible": True},
    "gw2": {
        "is_proxy_integration": True,
        "awsgateway_compatible": True,
        "awsgateway_compatible_payload_version": "2.0",
    },
    "alb": {"is_proxy_integration": True, "alb_target_compatible": True},
}
INVALID_PROXY = ("status-101", "status-100", "status-nan", "status-infinity", "status-inf-string")

FAULTS = [
    Fault("refused", 502, "cannot connect"),
    Fault("dns-failure", 502, "DNS lookup of lambda.invalid failed"),
    Fault("bad-cert", 502, "certificate verification failed"),
    Fault("plain-http-tls", 502, "disable_https: true"),
    Fault("silence", 504, "timed out"),
    Fault("close-mid-body", 502, "cut short"),
    Fault("truncated-length", 502, "got 10 of 1000 body bytes"),
    Fault("bad-chunking", 502, "malformed"),
    Fault("oversized-head", 502, "longer than"),
    Fault("oversized-body", 502, "lambda_max_response_body"),
    Fault("header-injection", 502, "bare CR or LF"),
    Fault("bad-header-name", 502, "bad header name"),
    Fault("nul-in-value", 502, "NUL"),
    *[
        Fault(f"{fault}/{mode}", 502, "statusCode validation failed")
        for fault in INVALID_PROXY
        for mode in PROXY_MODES
    ],
    Fault("not-json/v1", 502, "invalid JSON"),
    Fault("throttled", 429, "TooManyRequestsException: Rate Exceeded."),
    Fault("service-500", 502, "ServiceException: internal"),
    Fault("service-503", 502, "EC2ThrottledException"),
    Fault("hostile-403", 502, "InvalidSignatureException: The request signature we calculated"),
    Fault("hostile-malformed", 502, "malformed"),
    Fault("credentials-missing", 500, "no AWS credentials found"),
    Fault("sts-failure", 500, "SignatureDoesNotMatch"),
    Fault("local-wrong-secret", 502, "InvalidSignatureException: The request signature we"),
    Fault("local-unknown-key", 502, "The security token included in the request is invalid."),
]


def fault_routes(crafted: Crafted, tls_crafted: Crafted, local_port: int) -> list[dict[str, Any]]:
    port = crafted.port
    sts = f"http://127.0.0.1:{port}/"
    special: dict[str, dict[str, Any]] = {
        "refused": plugin(free_port(), "ok"),
        "dns-failure": plugin(port, "ok", host="lambda.invalid"),
        "bad-cert": plugin(tls_crafted.port, "ok", disable_https=False),
        "plain-http-tls": plugin(port, "ok", disable_https=False),
        "credentials-missing": plugin(port, "ok", aws_key=None, aws_secret=None),
        "sts-failure": plugin(
            port,
            "ok",
            aws_assume_role_arn="arn:aws:iam::123456789012:role/broken",
            aws_sts_endpoint_url=sts,
        ),
        "hostile-403": plugin(
            port,
            "hostile-403",
            aws_assume_role_arn="arn:aws:iam::123456789012:role/ok",
            aws_sts_endpoint_url=sts,
        ),
        "hostile-malformed": plugin(
            port,
            "hostile-malformed",
            aws_assume_role_arn="arn:aws:iam::123456789012:role/ok",
            aws_sts_endpoint_url=sts,
        ),
        "local-wrong-secret": plugin(local_port, "echo", aws_key="fault-key", aws_secret="nope"),
        "local-unknown-key": plugin(local_port, "echo", aws_key="AKIAUNKNOWN000000001"),
    }
    routes = []
    for fault in FAULTS:
        name, _, mode = fault.name.partition("/")
        entry = special.get(name) or plugin(port, name, **PROXY_MODES.get(mode, {}))
        routes.append(
            {"name": fault.name.replace("/", "."), "paths": [f"/{fault.name}"], "plugins": [entry]}
        )
    routes.append({"name": "ok", "paths": ["/ok"], "plugins": [plugin(port, "ok")]})
    return routes


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Mitmdump, Path]]:
    tmp_path = tmp_path_factory.mktemp("faults")
    crafted = Crafted()
    tls_crafted = Crafted(server_ssl_context(tmp_path))
    empty = tmp_path / "empty"
    empty.write_text("")
    env = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    env.update(
        AWS_CONFIG_FILE=str(empty),
        AWS_SHARED_CREDENTIALS_FILE=str(empty),
        AWS_EC2_METADATA_DISABLED="true",
    )
    with start_local_lambda(access_key="fault-key", secret_key="fault-secret") as local:
        config = tmp_path / "kong.yaml"
        routes = fault_routes(crafted, tls_crafted, local.port)
        config.write_text(yaml.safe_dump({"_format_version": "3.0", "routes": routes}))
        flows = tmp_path / "flows"
        try:
            with run_mitmdump(
                config,
                "--mode",
                f"reverse:http://127.0.0.1:{free_port()}",
                "-w",
                str(flows),
                tmp_path=tmp_path,
                env=env,
            ) as proxy:
                proxy.wait_for_log("routes go to Lambda")
                yield proxy, flows
        finally:
            crafted.close()
            tls_crafted.close()


def test_header_injection_never_reaches_the_client_as_a_header(
    matrix: tuple[Mitmdump, Path],
) -> None:
    """Read the raw bytes: no line of the answer starts a Set-Cookie header."""
    proxy, _ = matrix
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as sock:
        sock.sendall(b"GET /header-injection HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert head.startswith(b"HTTP/1.1 502")
    assert not any(line.lower().startswith(b"set-cookie") for line in head.split(b"\n"))


# last: it stops mitmdump to read the saved flows
def test_fault_matrix(matrix: tuple[Mitmdump, Path]) -> None:
    proxy, flows = matrix
    timeout_s = ROUTE_TIMEOUT_MS / 1000
    outcomes: dict[str, tuple[int, float, str]] = {}
    started = time.monotonic()
    with httpx.Client(base_url=proxy.url, timeout=timeout_s + 20) as client:
        assert client.get("/ok").json() == {"fine": True}
        for fault in FAULTS:
            call_started = time.monotonic()
            response = client.post(f"/{fault.name}", json={"a": 1})
            outcomes[fault.name] = (
                response.status_code,
                time.monotonic() - call_started,
                response.text,
            )
            assert "injected" not in response.headers.get("set-cookie", "")
    total_s = time.monotonic() - started

    failures = []
    for fault in FAULTS:
        status, elapsed, text = outcomes[fault.name]
        if status != fault.status or fault.says not in text:
            failures.append(f"{fault.name}: {status} {text[:300]}")
        if elapsed > timeout_s + HANG_MARGIN_S:
            failures.append(f"{fault.name}: hung {elapsed:.1f}s")
        document = json.loads(text)
        assert document["message"] and len(document["request_id"]) == 32
    assert not failures, "\n".join(failures)

    log = proxy.log()
    assert "Traceback" not in log
    proxy.process.terminate()
    proxy.process.wait(timeout=10)
    saved = flows.read_bytes()
    everything = {"log": log, "flows": saved.decode("latin-1"), "client": repr(outcomes)}
    for where, text in everything.items():
        for secret in SECRETS:
            assert secret not in text, f"{secret[:8]}... leaked into the {where}"
        assert not _SIGNATURE.search(text), f"a signature leaked into the {where}"
    print(f"fault matrix: {len(FAULTS)} cases, run time {total_s:.1f}s")

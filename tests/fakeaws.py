"""Loopback fakes of the AWS endpoints the Invoke call talks to.

* ``FakeLambda``: the Invoke path; it checks every SigV4 signature independently (botocore's
  ``SigV4Auth`` over the raw path it received, at the received ``X-Amz-Date``) and answers
  403 when it is wrong, as AWS does.
* ``FakeSts``: ``AssumeRole`` (signature-checked too) and ``AssumeRoleWithWebIdentity``,
  issuing short-lived credentials.
* ``FakeEcsCredentials``: the ECS container credentials endpoint.
* ``ConnectProxy``: an HTTP proxy (CONNECT tunnels and absolute-form requests).
* ``self_signed_cert``: a certificate for 127.0.0.1/localhost, made with ``cryptography``.

Credentials the fakes accept live in a shared ``KeyStore``.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import os
import re
import ssl
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from aiohttp import web
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

_AUTH = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/"
    r"(?P<service>[^/]+)/aws4_request, SignedHeaders=(?P<signed>[a-z0-9;-]+), "
    r"Signature=(?P<signature>[0-9a-f]{64})"
)
_INVOKE_PATH = re.compile(r"/2015-03-31/functions/(?P<name>[^/?]+)/invocations(\?.*)?")


@dataclass
class KeyStore:
    """access key -> (secret, session token or None) of every credential the fakes accept."""

    keys: dict[str, tuple[str, str | None]] = field(default_factory=dict)

    def add(self, access_key: str, secret: str, token: str | None = None) -> None:
        self.keys[access_key] = (secret, token)

    def issue(self, prefix: str = "ASIA") -> tuple[str, str, str]:
        access_key = f"{prefix}{uuid.uuid4().hex[:16].upper()}"
        secret, token = uuid.uuid4().hex, f"token-{uuid.uuid4().hex}"
        self.add(access_key, secret, token)
        return access_key, secret, token


def check_signature(
    request: web.Request, body: bytes, keys: KeyStore, *, region: str, service: str, scheme: str
) -> tuple[str, str] | None:
    """``None`` if the request is correctly signed, else (AWS error code, message)."""
    match = _AUTH.fullmatch(request.headers.get("Authorization", ""))
    if match is None:
        return "MissingAuthenticationTokenException", "Missing or malformed Authorization"
    if match["key"] not in keys.keys:
        return (
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        )
    secret, token = keys.keys[match["key"]]
    signed = match["signed"].split(";")
    amz_date = request.headers.get("X-Amz-Date", "")
    if (
        not amz_date.startswith(match["date"])
        or match["region"] != region
        or match["service"] != service
    ):
        return (
            "InvalidSignatureException",
            "Credential should be scoped to a valid region/service/date.",
        )
    if "host" not in signed or "x-amz-date" not in signed:
        return "InvalidSignatureException", "host and x-amz-date must be signed"
    if token and (
        "x-amz-security-token" not in signed or request.headers.get("X-Amz-Security-Token") != token
    ):
        return (
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        )
    aws_request = AWSRequest(
        method=request.method,
        url=f"{scheme}://{request.headers['Host']}{request.raw_path}",
        headers={name: request.headers.get(name, "") for name in signed},
        data=body,
    )
    aws_request.context["timestamp"] = amz_date
    auth = SigV4Auth(Credentials(match["key"], secret, token), service, region)
    canonical = auth.canonical_request(aws_request)
    expected = auth.signature(auth.string_to_sign(aws_request, canonical), aws_request)
    if expected != match["signature"]:
        return (
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided.",
        )
    return None


@dataclass
class ReceivedInvoke:
    function_name: str
    raw_path: str
    headers: list[tuple[str, str]]
    body: bytes
    client_port: int

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


InvokeHandler = Callable[[web.Request, ReceivedInvoke], Awaitable[web.StreamResponse]]


async def echo(request: web.Request, received: ReceivedInvoke) -> web.Response:
    """Like a function returning what it got; 202/204 for Event/DryRun, as Lambda."""
    invocation_type = received.header("X-Amz-Invocation-Type")
    if invocation_type == "Event":
        return web.Response(status=202)
    if invocation_type == "DryRun":
        return web.Response(status=204)
    document = {
        "function": received.function_name,
        "raw_path": received.raw_path,
        "payload": received.body.decode("utf-8", "replace"),
    }
    return web.json_response(
        document,
        headers={"X-Amz-Executed-Version": "$LATEST", "x-amzn-RequestId": str(uuid.uuid4())},
    )


def aws_error(status: int, code: str, message: str, **headers: str) -> web.Response:
    return web.json_response(
        {"Type": "User", "message": message},
        status=status,
        headers={"x-amzn-ErrorType": f"{code}:http://internal.amazon.com/coral/", **headers},
    )


class _Server:
    """An aiohttp app on 127.0.0.1 with a free port."""

    scheme = "http"

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self._ssl_context = ssl_context
        self._runner: web.AppRunner | None = None
        self.port = 0

    def _app(self) -> web.Application:
        raise NotImplementedError

    async def start(self) -> _Server:
        self._runner = web.AppRunner(self._app(), shutdown_timeout=0.1, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(
            self._runner, "127.0.0.1", 0, ssl_context=self._ssl_context, backlog=2048
        )
        await site.start()
        self.port = self._runner.addresses[0][1]
        if self._ssl_context is not None:
            self.scheme = "https"
        return self

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


class FakeLambda(_Server):
    def __init__(
        self,
        keys: KeyStore,
        *,
        region: str = "us-east-1",
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(ssl_context)
        self.keys = keys
        self.region = region
        self.handlers: dict[str, InvokeHandler] = {}
        self.received: list[ReceivedInvoke] = []
        self.in_flight = 0
        self.max_in_flight = 0

    def _app(self) -> web.Application:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        return app

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        match = _INVOKE_PATH.fullmatch(request.raw_path)
        if request.method != "POST" or match is None:
            return aws_error(404, "UnknownOperationException", "Unknown operation")
        problem = check_signature(
            request, body, self.keys, region=self.region, service="lambda", scheme=self.scheme
        )
        if problem is not None:
            return aws_error(403, *problem)
        peer = request.transport.get_extra_info("peername") if request.transport else None
        received = ReceivedInvoke(
            function_name=unquote(match["name"]),
            raw_path=request.raw_path,
            headers=list(request.headers.items()),
            body=body,
            client_port=peer[1] if peer else 0,
        )
        self.received.append(received)
        handler = self.handlers.get(received.function_name, echo)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await handler(request, received)
        finally:
            self.in_flight -= 1


def _iso(when: datetime.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class FakeSts(_Server):
    """STS ``AssumeRole`` and ``AssumeRoleWithWebIdentity`` (query protocol). ``gate``, when
    set, holds answers until it opens."""

    def __init__(
        self, keys: KeyStore, *, region: str = "us-east-1", lifetime_s: float = 3600
    ) -> None:
        super().__init__()
        self.keys = keys
        self.region = region
        self.lifetime_s = lifetime_s
        self.gate: asyncio.Event | None = None
        self.fail_with: tuple[int, str, str] | None = None
        self.web_identity_token = "web-identity-token"
        self.calls: list[dict[str, str]] = []
        self.issued: list[tuple[str, str, str]] = []
        self.in_flight = 0

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/", self._handle)
        return app

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        form = {key: values[0] for key, values in parse_qs(body.decode()).items()}
        action = form.get("Action")
        if action == "AssumeRoleWithWebIdentity":  # unsigned; the token is the proof
            if form.get("WebIdentityToken") != self.web_identity_token:
                return self._error(400, "InvalidIdentityToken", "Token is not valid")
        elif action == "AssumeRole":
            problem = check_signature(
                request, body, self.keys, region=self.region, service="sts", scheme=self.scheme
            )
            if problem is not None:
                return self._error(403, *problem)
        else:
            return self._error(400, "InvalidAction", "Could not find operation")
        self.calls.append(form)
        self.in_flight += 1
        try:
            if self.gate is not None:
                await self.gate.wait()
            if self.fail_with is not None:
                return self._error(*self.fail_with)
            access_key, secret, token = self.keys.issue()
            self.issued.append((access_key, secret, token))
            expires = datetime.datetime.now(datetime.UTC) + datetime.timedelta(
                seconds=self.lifetime_s
            )
            return web.Response(
                content_type="text/xml",
                text=(
                    f'<{action}Response xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
                    f"<{action}Result><AssumedRoleUser>"
                    f"<AssumedRoleId>AROAEXAMPLE:{form.get('RoleSessionName')}</AssumedRoleId>"
                    f"<Arn>arn:aws:sts::123456789012:assumed-role/r/{form.get('RoleSessionName')}</Arn>"
                    "</AssumedRoleUser><Credentials>"
                    f"<AccessKeyId>{access_key}</AccessKeyId><SecretAccessKey>{secret}</SecretAccessKey>"
                    f"<SessionToken>{token}</SessionToken><Expiration>{_iso(expires)}</Expiration>"
                    f"</Credentials></{action}Result>"
                    f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata>"
                    f"</{action}Response>"
                ),
            )
        finally:
            self.in_flight -= 1

    @staticmethod
    def _error(status: int, code: str, message: str) -> web.Response:
        return web.Response(
            status=status,
            content_type="text/xml",
            text=(
                '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error>'
                f"<Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>"
                f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
            ),
        )


class FakeEcsCredentials(_Server):
    """The container credentials endpoint (``AWS_CONTAINER_CREDENTIALS_FULL_URI``)."""

    path = "/v2/credentials/task"

    def __init__(self, keys: KeyStore, *, authorization: str | None = None) -> None:
        super().__init__()
        self.keys = keys
        self.authorization = authorization
        self.issued: list[tuple[str, str, str]] = []

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_get(self.path, self._handle)
        return app

    async def _handle(self, request: web.Request) -> web.Response:
        if (
            self.authorization is not None
            and request.headers.get("Authorization") != self.authorization
        ):
            return web.json_response({"message": "unauthorized"}, status=401)
        access_key, secret, token = self.keys.issue()
        self.issued.append((access_key, secret, token))
        expires = datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=6)
        return web.json_response(
            {
                "AccessKeyId": access_key,
                "SecretAccessKey": secret,
                "Token": token,
                "Expiration": _iso(expires),
                "RoleArn": "arn:aws:iam::123456789012:role/task",
            }
        )


class ConnectProxy:
    """A forward HTTP proxy: CONNECT tunnels and absolute-form requests; records request lines."""

    def __init__(self) -> None:
        self.request_lines: list[str] = []
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> ConnectProxy:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._writers):
                writer.close()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            request_line, _, rest = head.partition(b"\r\n")
            method, target, version = request_line.decode().split(" ")
            self.request_lines.append(f"{method} {target}")
            if method == "CONNECT":
                host, _, port = target.rpartition(":")
                up_reader, up_writer = await asyncio.open_connection(host, int(port))
                writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            else:
                url = urlsplit(target)
                up_reader, up_writer = await asyncio.open_connection(url.hostname, url.port or 80)
                origin_form = url.path + (f"?{url.query}" if url.query else "")
                up_writer.write(f"{method} {origin_form} {version}\r\n".encode() + rest)
            self._writers.add(up_writer)
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        except (OSError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            writer.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()


def self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate and key for 127.0.0.1 and localhost (PEM files)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def server_ssl_context(directory: Path) -> ssl.SSLContext:
    cert_path, key_path = self_signed_cert(directory)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    return context


def isolate_aws_env(monkeypatch: Any, directory: Path) -> None:
    """No AWS settings from the machine: no env credentials, empty shared files, no IMDS."""
    for name in list(os.environ):
        if name.startswith(("AWS_", "AMAZON_")) or name.lower().endswith("_proxy"):
            monkeypatch.delenv(name)
    empty = directory / "aws-empty-file"
    empty.write_text("")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")

"""The signed Invoke call over a pooled keep-alive HTTP/1.1 client.

Per plugin config (cached on first use): the endpoint (botocore's partition-aware endpoint
resolution, in a thread), the transport's precomputed POST target, the signer with its fixed
headers, and the credentials provider. Per request: read the cached credentials, sign, one
``PostTarget.post``.

Transport: ``transport.HttpClient`` (our own, on asyncio protocols: aiohttp's client cost
four times the CPU per call). Connections are pooled per endpoint (and proxy) and shared by
all flows, with no cap, so every flow's invocation is in flight at once; idle ones live
``keepalive`` ms. An invocation is never retried, so a slow function cannot run twice.
``timeout`` bounds the whole call: endpoint, credentials, connect, send and read.
"""

from __future__ import annotations

import asyncio
import functools
import json
import platform
import re
import socket
import time
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version

from yarl import URL

from .config import LambdaPluginConfig
from .credentials import CredentialProviders, CredentialSource, CredentialsProvider
from .endpoints import (
    InvokeEndpoint,
    build_endpoint,
    plugin_region,
    require_function_name,
    resolve_lambda_hostname,
)
from .errors import InvokeTimeoutError, LambdaServiceError, TransportError
from .redaction import redact
from .signing import AwsCredentials, RequestSigner
from .transport import (
    DEFAULT_MAX_BODY,
    CertificateError,
    ConnectError,
    HttpClient,
    HttpError,
    IncompleteBodyError,
    MalformedResponseError,
    PostTarget,
    ProxyConnectError,
    ProxyRefusedError,
    ResponseTooLargeError,
    ServerDisconnectedError,
    TlsError,
)


def _user_agent() -> str:
    try:
        own = version("lambda-route")
    except PackageNotFoundError:
        own = "dev"
    return f"lambda-route/{own} Python/{platform.python_version()}"


USER_AGENT = _user_agent()
#: bound on cached plugin configs (a config reload makes new objects; old ones age out)
_MAX_CACHED_PLUGINS = 4096


@dataclass(frozen=True, slots=True)
class InvokeResult:
    """The Invoke API's answer (status < 400; >= 400 raises LambdaServiceError)."""

    status: int  # 200 RequestResponse, 202 Event, 204 DryRun
    headers: tuple[tuple[str, str], ...]  # as received, repeats kept
    body: bytes
    duration_ms: float
    function_name: str
    qualifier: str | None


@dataclass(frozen=True, slots=True)
class _Target:
    """Everything about one plugin config that does not change between requests."""

    plugin: LambdaPluginConfig  # held so that its id() stays unique while cached
    endpoint: InvokeEndpoint
    transport: PostTarget  # the pooled POST to the endpoint (and proxy)
    signer: RequestSigner
    credentials: CredentialsProvider
    proxy: URL | None  # for error messages
    function_name: str


def invoke_signer(
    plugin: LambdaPluginConfig, endpoint: InvokeEndpoint, *, user_agent: str = USER_AGENT
) -> RequestSigner:
    """The signer of one plugin's Invoke calls: everything but the date, the credentials
    and the payload is fixed per plugin, so it is computed here once."""
    return RequestSigner(
        method="POST",
        path=endpoint.path,
        query=endpoint.query,
        headers={
            "Host": endpoint.host_header,
            "X-Amz-Invocation-Type": plugin.invocation_type,
            "X-Amz-Log-Type": plugin.log_type,
            "User-Agent": user_agent,
        },
        region=endpoint.region,
    )


class LambdaClient:
    """Invokes functions for every route; one per event loop.

    Connections are pooled per endpoint and shared across client connections; the
    number of invocations in flight is not capped by a small pool.
    """

    def __init__(
        self,
        *,
        verify_tls: bool = True,
        user_agent: str = USER_AGENT,
        max_response_body: int = DEFAULT_MAX_BODY,
    ) -> None:
        self._user_agent = user_agent
        # keyed by id(plugin): a LambdaPluginConfig may hold a dict and so be unhashable
        self._targets: dict[int, _Target] = {}
        self._hostnames: dict[str, asyncio.Task[str]] = {}  # region -> hostname lookup
        self._http = HttpClient(verify_tls=verify_tls, max_body=max_response_body)
        self._credentials = CredentialProviders(verify_tls=verify_tls)

    async def invoke(self, plugin: LambdaPluginConfig, payload: bytes) -> InvokeResult:
        """Invoke ``plugin.function_name``. Raises an InvocationError subclass on failure."""
        started = time.perf_counter()
        timeout_s = plugin.timeout / 1000 if plugin.timeout > 0 else None
        stage = "preparing the call"
        target: _Target | None = None
        credentials: AwsCredentials | None = None
        try:
            async with asyncio.timeout(timeout_s):
                target = self._targets.get(id(plugin))
                if target is None or target.plugin is not plugin:
                    stage = "resolving the Lambda endpoint"
                    target = await self._prepare(plugin)
                stage = "waiting for AWS credentials"
                credentials = await target.credentials.get()
                headers = target.signer.sign(credentials, payload)
                stage = "calling Lambda"
                response = await target.transport.post(headers, payload)
        except TimeoutError as exc:
            detail = f"the invocation timed out after {plugin.timeout:g} ms while {stage}"
            if stage == "calling Lambda" and target is not None:
                detail += f" at {target.endpoint.authority}"
            raise InvokeTimeoutError(detail) from exc
        except (HttpError, OSError) as exc:
            if target is None:  # only the HTTP call raises these
                raise
            raise _transport_error(exc, target, _secrets(credentials)) from exc
        status = response.status
        if status >= 400:
            raise _service_error(
                status,
                response.reason,
                response.headers,
                response.body,
                target.function_name,
                _secrets(credentials),
            )
        return InvokeResult(
            status=status,
            headers=response.headers,
            body=response.body,
            duration_ms=(time.perf_counter() - started) * 1000,
            function_name=target.function_name,
            qualifier=plugin.qualifier or None,
        )

    async def close(self) -> None:
        """Close every pooled connection and stop waiting for credential refreshes."""
        for lookup in self._hostnames.values():
            lookup.cancel()
        await self._http.close()
        await self._credentials.close()

    async def _prepare(self, plugin: LambdaPluginConfig) -> _Target:
        region = plugin_region(plugin)
        function_name = require_function_name(plugin)
        hostname = plugin.host or await self._lambda_hostname(region)
        endpoint = build_endpoint(plugin, region, hostname)
        signer = invoke_signer(plugin, endpoint, user_agent=self._user_agent)
        query = f"?{endpoint.query}" if endpoint.query else ""
        target = _Target(
            plugin=plugin,
            endpoint=endpoint,
            transport=self._http.post_target(
                scheme=endpoint.scheme,
                host=endpoint.host,
                port=endpoint.port,
                path=f"{endpoint.path}{query}",
                keepalive_s=max(plugin.keepalive, 0) / 1000,
                proxy_url=plugin.proxy_url,
            ),
            signer=signer,
            credentials=self._credentials.provider(CredentialSource.of(plugin, region)),
            proxy=URL(plugin.proxy_url) if plugin.proxy_url else None,
            function_name=function_name,
        )
        if len(self._targets) >= _MAX_CACHED_PLUGINS:
            self._targets.clear()
        self._targets[id(plugin)] = target
        return target

    async def _lambda_hostname(self, region: str) -> str:
        """botocore's hostname for ``region``, looked up once in a thread; concurrent first
        requests share the lookup, and a failed one is retried by the next request."""
        lookup = self._hostnames.get(region)
        if lookup is None:
            lookup = asyncio.get_running_loop().create_task(
                asyncio.to_thread(resolve_lambda_hostname, region)
            )
            self._hostnames[region] = lookup
            lookup.add_done_callback(functools.partial(self._forget_failed_lookup, region))
        return await asyncio.shield(lookup)

    def _forget_failed_lookup(self, region: str, lookup: asyncio.Task[str]) -> None:
        if (lookup.cancelled() or lookup.exception()) and self._hostnames.get(region) is lookup:
            del self._hostnames[region]


def _secrets(credentials: AwsCredentials | None) -> tuple[str | None, ...]:
    if credentials is None:
        return ()
    return (credentials.token, credentials.secret_key, credentials.access_key)


def _transport_error(
    exc: BaseException, target: _Target, secrets: tuple[str | None, ...] = ()
) -> TransportError:
    error = _describe_transport_error(exc, target)
    return TransportError(redact(error.detail, secrets))


def _describe_transport_error(exc: BaseException, target: _Target) -> TransportError:
    authority = target.endpoint.authority
    if isinstance(exc, CertificateError):
        return TransportError(
            f"TLS certificate verification failed for {authority}: {exc.os_error}"
        )
    if isinstance(exc, TlsError):
        detail = f"TLS handshake with {authority} failed: {exc.os_error}"
        if _looks_like_plain_http(exc.os_error, target.endpoint.host):
            detail += (
                f"; {authority} looks like a plain HTTP endpoint (a local Lambda server?): "
                "set disable_https: true in the plugin config"
            )
        return TransportError(detail)
    if isinstance(exc, ProxyConnectError):
        proxy = target.proxy
        where = f"{proxy.host}:{proxy.port}" if proxy is not None else "?"
        return TransportError(f"cannot connect to the proxy {where}: {_os_reason(exc.os_error)}")
    if isinstance(exc, ProxyRefusedError):
        return TransportError(
            f"the proxy refused to connect to {authority}: {exc.status} {exc.reason}"
        )
    if isinstance(exc, ConnectError):
        if isinstance(exc.os_error, socket.gaierror):
            return TransportError(
                f"DNS lookup of {target.endpoint.host} failed: {_os_reason(exc.os_error)}"
            )
        return TransportError(f"cannot connect to {authority}: {_os_reason(exc.os_error)}")
    if isinstance(exc, ServerDisconnectedError):
        return TransportError(
            f"{authority} closed the connection before sending a complete response"
        )
    if isinstance(exc, IncompleteBodyError):
        return TransportError(f"the response from {authority} was cut short: {exc}")
    if isinstance(exc, ResponseTooLargeError):
        return TransportError(
            f"the response from {authority} was aborted: its body is larger than "
            f"lambda_max_response_body ({exc.limit} bytes)"
        )
    if isinstance(exc, MalformedResponseError):
        return TransportError(f"{authority} sent a malformed response: {exc}")
    return TransportError(f"the call to {authority} failed: {type(exc).__name__}: {exc}")


#: what OpenSSL says when the server answers the ClientHello with plain HTTP
_PLAIN_HTTP_TLS_ERRORS = ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "HTTP_REQUEST")
_AWS_DOMAINS = (".amazonaws.com", ".amazonaws.com.cn", ".api.aws", ".c2s.ic.gov", ".sc2s.sgov.gov")


def _looks_like_plain_http(error: OSError, host: str) -> bool:
    """A TLS failure that means "this is HTTP", towards a host that is not AWS's."""
    reason = f"{getattr(error, 'reason', '') or ''} {error}".upper()
    is_aws = host.lower().rstrip(".").endswith(_AWS_DOMAINS)
    return not is_aws and any(marker in reason for marker in _PLAIN_HTTP_TLS_ERRORS)


def _os_reason(error: OSError) -> str:
    return error.strerror or str(error) or type(error).__name__


def _service_error(
    status: int,
    reason: str,
    headers: tuple[tuple[str, str], ...],
    body: bytes,
    function_name: str,
    secrets: tuple[str | None, ...] = (),
) -> LambdaServiceError:
    """botocore's rest-json error parsing: the code from ``x-amzn-ErrorType`` (before ``:``,
    after ``#``), else from the body; the message from the body's ``message``/``Message``.
    Everything taken from the answer is redacted (it may quote the signed request)."""
    header_map = {name.lower(): value for name, value in headers}
    try:
        document = json.loads(body) if body else None
    except ValueError:
        document = None
    fields = document if isinstance(document, dict) else {}
    error_type = header_map.get("x-amzn-errortype", "").split(":", 1)[0]
    if not error_type:
        for key in ("__type", "code", "Code", "Type"):
            if isinstance(fields.get(key), str) and fields[key]:
                error_type = fields[key]
                break
    error_type = error_type.rsplit("#", 1)[-1] or str(status)
    message = fields.get("message") or fields.get("Message")
    if not isinstance(message, str):
        message = reason if isinstance(document, dict) or not body else _text(body)
    error_type = _one_line(redact(error_type, secrets), 100)
    message = _one_line(redact(message, secrets), 1000)
    request_id = header_map.get("x-amzn-requestid")
    if request_id is not None:
        request_id = _one_line(redact(request_id, secrets), 100)
    retry_after = header_map.get("retry-after")
    if retry_after is not None and not _RETRY_AFTER.fullmatch(retry_after):
        retry_after = None  # only seconds or an HTTP date go to the client
    detail = f"Lambda Invoke of {function_name!r} failed: {status} {error_type}: {message}"
    if request_id:
        detail += f" (request id {request_id})"
    return LambdaServiceError(
        detail,
        invoke_status=status,
        error_type=error_type,
        aws_message=message,
        request_id=request_id,
        retry_after=retry_after,
    )


_RETRY_AFTER = re.compile(r"[0-9]{1,10}|[A-Za-z]{3}, [0-9]{2} [A-Za-z]{3} [0-9]{4} [0-9:]{8} GMT")


def _one_line(text: str, limit: int) -> str:
    """Whitespace runs (line breaks too) as one space, cut at ``limit``."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."


def _text(body: bytes, limit: int = 300) -> str:
    text = " ".join(body.decode("utf-8", "replace").split())
    return text if len(text) <= limit else text[:limit] + "..."

"""The signed Invoke call over a pooled keep-alive HTTP/1.1 client.

The per-plugin preparation (endpoint, POST target, signer, credentials provider) is
``invoke_target``'s, shared with the streaming call. Per request: read the cached
credentials, sign, one ``PostTarget.post``.

Transport: ``http_client.HttpClient`` (our own, on asyncio protocols: aiohttp's client cost
four times the CPU per call). Connections are pooled per endpoint (and proxy) and shared by
all flows, with no cap, so every flow's invocation is in flight at once; idle ones live
``keepalive`` ms. An invocation is never retried, so a slow function cannot run twice.
``timeout`` bounds the whole call: endpoint, credentials, connect, send and read.
"""

from __future__ import annotations

import asyncio
import platform
import time
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version

from .aws_errors import secrets_of, service_error, transport_error
from .config import LambdaPluginConfig
from .credentials import CredentialProviders
from .endpoints import InvokeEndpoint, build_endpoint
from .errors import InvokeTimeoutError
from .http_client import DEFAULT_MAX_BODY, HttpClient
from .http_errors import HttpError
from .invoke_target import CallShape, Target, Targets
from .signing import AwsCredentials, RequestSigner


def _user_agent() -> str:
    try:
        own = version("lambda-route")
    except PackageNotFoundError:
        own = "dev"
    return f"lambda-route/{own} Python/{platform.python_version()}"


USER_AGENT = _user_agent()


@dataclass(frozen=True, slots=True)
class InvokeResult:
    """The Invoke API's answer (status < 400; >= 400 raises LambdaServiceError)."""

    status: int  # 200 RequestResponse, 202 Event, 204 DryRun
    headers: tuple[tuple[str, str], ...]  # as received, repeats kept
    body: bytes
    duration_ms: float
    function_name: str
    qualifier: str | None


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


INVOKE = CallShape(
    "invoke",
    build_endpoint,
    lambda plugin, endpoint, user_agent: invoke_signer(plugin, endpoint, user_agent=user_agent),
)


class LambdaClient:
    """Invokes functions for every route; one per event loop.

    Connections are pooled per endpoint and shared across client connections; the
    number of invocations in flight is not capped by a small pool. ``targets`` is the
    preparation the streaming client shares (``LambdaStreamClient(targets=...)``).
    """

    def __init__(
        self,
        *,
        verify_tls: bool = True,
        user_agent: str = USER_AGENT,
        max_response_body: int = DEFAULT_MAX_BODY,
    ) -> None:
        self.targets = Targets(
            HttpClient(verify_tls=verify_tls, max_body=max_response_body),
            CredentialProviders(verify_tls=verify_tls),
            user_agent=user_agent,
        )

    async def invoke(self, plugin: LambdaPluginConfig, payload: bytes) -> InvokeResult:
        """Invoke ``plugin.function_name``. Raises an InvocationError subclass on failure."""
        started = time.perf_counter()
        timeout_s = plugin.timeout / 1000 if plugin.timeout > 0 else None
        stage = "preparing the call"
        target: Target | None = None
        credentials: AwsCredentials | None = None
        try:
            async with asyncio.timeout(timeout_s):
                target = self.targets.cached(plugin, INVOKE)
                if target is None:
                    stage = "resolving the Lambda endpoint"
                    target = await self.targets.prepare(plugin, INVOKE)
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
            raise transport_error(exc, target, secrets_of(credentials)) from exc
        status = response.status
        if status >= 400:
            raise service_error(
                status,
                response.reason,
                response.headers,
                response.body,
                target.function_name,
                secrets_of(credentials),
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
        await self.targets.close()

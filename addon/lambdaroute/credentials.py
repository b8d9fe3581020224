"""AWS credentials for the Invoke call: botocore's chain, resolved and refreshed off the loop.

Sources, in Kong's order:

1. static ``aws_key`` / ``aws_secret`` from the plugin config;
2. otherwise botocore's whole default chain (``Session().get_credentials()``: environment,
   shared credentials and config files with profiles, web identity, process, SSO, ECS
   container endpoint, EC2 instance metadata...);
3. with ``aws_assume_role_arn``, STS ``AssumeRole`` on top of 1 or 2, as botocore
   ``DeferredRefreshableCredentials`` (STS client: the base credentials, the region,
   ``aws_sts_endpoint_url`` and ``proxy_url``).

botocore resolves and refreshes with blocking network and disk I/O under a thread lock, so
every botocore call here runs in ``asyncio.to_thread``. The hot path (``get``) returns a
cached immutable ``AwsCredentials``; temporary credentials are refreshed in the background
once they enter botocore's advisory window (15 min before expiry; half-way through the
lifetime for shorter-lived ones), and all callers share the one refresh in flight. Only
when the cached credentials have actually expired does ``get`` wait for the refresh, and it
raises ``CredentialsError`` if that fails.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

import botocore.session
from botocore.config import Config
from botocore.credentials import (
    AssumeRoleCredentialFetcher,
    Credentials,
    DeferredRefreshableCredentials,
)
from yarl import URL

from .config import LambdaPluginConfig
from .errors import CredentialsError
from .redaction import RedactingFilter, redact
from .signing import AwsCredentials

logger = logging.getLogger(__name__)

# botocore logs a failed refresh with its traceback and AWS's text: one redacted line
logging.getLogger("botocore.credentials").addFilter(RedactingFilter())

#: botocore's advisory refresh window (``RefreshableCredentials._advisory_refresh_timeout``)
ADVISORY_REFRESH_SECONDS = 15 * 60
#: how long a failed resolution is remembered before the next attempt
FAILURE_RETRY_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class CredentialSource:
    """Everything credentials depend on; one provider per distinct value (like Kong's
    service cache key), so a rotated vault-referenced ``aws_key`` gets new credentials."""

    region: str
    aws_key: str | None = None
    aws_secret: str | None = field(default=None, repr=False)
    assume_role_arn: str | None = None
    role_session_name: str = "kong"
    sts_endpoint_url: str | None = None
    proxy_url: str | None = field(default=None, repr=False)  # may carry proxy credentials

    @classmethod
    def of(cls, plugin: LambdaPluginConfig, region: str) -> CredentialSource:
        return cls(
            region=region,
            aws_key=plugin.aws_key,
            aws_secret=plugin.aws_secret,
            assume_role_arn=plugin.aws_assume_role_arn,
            role_session_name=plugin.aws_role_session_name,
            sts_endpoint_url=plugin.aws_sts_endpoint_url,
            proxy_url=plugin.proxy_url,
        )


@dataclass(frozen=True, slots=True)
class _Resolved:
    credentials: AwsCredentials
    expires_at: float  # epoch seconds; inf for credentials that do not expire


class CredentialsProvider:
    """Cached credentials of one ``CredentialSource``; use from one event loop."""

    def __init__(self, source: CredentialSource, *, verify_tls: bool = True) -> None:
        self._source = source
        self._verify_tls = verify_tls
        self._botocore_credentials: Any = None  # built on first resolution, in a thread
        self._current: _Resolved | None = None
        self._refresh_at = -math.inf  # epoch seconds
        self._failure: str | None = None
        self._retry_at = -math.inf
        self._refresh_task: asyncio.Task[None] | None = None
        if source.aws_key and not source.aws_secret:
            raise CredentialsError("aws_key is set but aws_secret is not")
        if source.aws_key and source.aws_secret and not source.assume_role_arn:
            static = AwsCredentials(source.aws_key, source.aws_secret)
            self._current = _Resolved(static, math.inf)
            self._refresh_at = math.inf

    async def get(self) -> AwsCredentials:
        """Current credentials; never blocks the loop. Raises CredentialsError."""
        current = self._current
        now = time.time()
        if current is not None:
            if now < self._refresh_at:
                return current.credentials
            if now < current.expires_at:
                self._start_refresh()
                return current.credentials
        if self._failure is not None and now < self._retry_at:
            raise CredentialsError(self._failure)
        await asyncio.shield(self._start_refresh())
        current = self._current
        if current is None or time.time() >= current.expires_at:
            raise CredentialsError(self._failure or "the AWS credentials have expired")
        return current.credentials

    async def close(self) -> None:
        """Stop waiting for a refresh in flight (its thread finishes on its own)."""
        task = self._refresh_task
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def _start_refresh(self) -> asyncio.Task[None]:
        task = self._refresh_task
        if task is None:
            # The provider holds the only strong reference the loop needs (eager tasks too).
            task = asyncio.get_running_loop().create_task(self._refresh())
            if not task.done():
                self._refresh_task = task
                task.add_done_callback(self._refresh_done)
        return task

    def _refresh_done(self, task: asyncio.Task[None]) -> None:
        if self._refresh_task is task:
            self._refresh_task = None

    async def _refresh(self) -> None:
        try:
            resolved = await asyncio.to_thread(self._resolve_blocking)
        except CredentialsError as exc:
            self._record_failure(exc.detail)
            return
        except Exception as exc:  # botocore raises many kinds; none of them must escape
            self._record_failure(self._describe(exc))
            return
        now = time.time()
        self._current = resolved
        self._failure = None
        if math.isinf(resolved.expires_at):
            self._refresh_at = math.inf
            return
        lifetime_left = resolved.expires_at - now
        refresh_at = max(resolved.expires_at - ADVISORY_REFRESH_SECONDS, now + lifetime_left / 2)
        self._refresh_at = refresh_at

    def _record_failure(self, detail: str) -> None:
        self._failure = detail
        now = time.time()
        self._retry_at = now + FAILURE_RETRY_SECONDS
        current = self._current
        if current is not None and now < current.expires_at:
            # Keep serving the still-valid credentials; retry later, well before expiry.
            self._refresh_at = now + min(FAILURE_RETRY_SECONDS, (current.expires_at - now) / 2)
            logger.warning("refreshing AWS credentials failed (keeping current ones): %s", detail)

    def _describe(self, exc: Exception) -> str:
        """The error for users and logs, with anything secret from the config masked."""
        text = f"{type(exc).__name__}: {exc}"
        source = self._source
        proxy_password = URL(source.proxy_url).password if source.proxy_url else None
        text = redact(text, (source.aws_secret, source.proxy_url, proxy_password))
        return f"resolving AWS credentials failed: {text}"

    # --- blocking part, runs in a worker thread ---

    def _resolve_blocking(self) -> _Resolved:
        if self._botocore_credentials is None:
            self._botocore_credentials = self._build_botocore_credentials()
        credentials = self._botocore_credentials
        frozen = credentials.get_frozen_credentials()
        if not frozen.access_key or not frozen.secret_key:
            raise CredentialsError(f"incomplete AWS credentials from {credentials.method}")
        # botocore has no public accessor for the expiry of refreshable credentials.
        expiry = getattr(credentials, "_expiry_time", None)
        expires_at = expiry.timestamp() if expiry is not None else math.inf
        return _Resolved(
            AwsCredentials(frozen.access_key, frozen.secret_key, frozen.token or None), expires_at
        )

    def _build_botocore_credentials(self) -> Any:
        source = self._source
        session = botocore.session.Session()
        session.set_config_variable("region", source.region)
        if source.proxy_url:
            # every client botocore makes (web identity STS, SSO, our AssumeRole) goes through it
            proxies = {"https": source.proxy_url, "http": source.proxy_url}
            session.set_default_client_config(Config(proxies=proxies))
        if source.aws_key and source.aws_secret:
            base = Credentials(source.aws_key, source.aws_secret, method="plugin-config")
        else:
            base = session.get_credentials()
            if base is None:
                raise CredentialsError(
                    "no AWS credentials found: no aws_key/aws_secret in the plugin config, and "
                    "botocore's default chain (environment, shared credentials and config "
                    "files, web identity, process, container and instance metadata) found none"
                )
        if not source.assume_role_arn:
            return base
        fetcher = AssumeRoleCredentialFetcher(
            client_creator=functools.partial(
                session.create_client,
                region_name=source.region,
                endpoint_url=source.sts_endpoint_url,
                verify=None if self._verify_tls else False,
            ),
            source_credentials=base,
            role_arn=source.assume_role_arn,
            extra_args={"RoleSessionName": source.role_session_name},
        )
        return DeferredRefreshableCredentials(
            refresh_using=fetcher.fetch_credentials, method="assume-role"
        )


class CredentialProviders:
    """One ``CredentialsProvider`` per distinct ``CredentialSource``."""

    def __init__(self, *, verify_tls: bool = True) -> None:
        self._verify_tls = verify_tls
        self._providers: dict[CredentialSource, CredentialsProvider] = {}

    def provider(self, source: CredentialSource) -> CredentialsProvider:
        provider = self._providers.get(source)
        if provider is None:
            provider = CredentialsProvider(source, verify_tls=self._verify_tls)
            self._providers[source] = provider
        return provider

    async def close(self) -> None:
        await asyncio.gather(*(provider.close() for provider in self._providers.values()))

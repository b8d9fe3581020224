"""What one plugin config's calls share, prepared once: the one preparation path of the
Invoke call (``invocation``) and of the streaming call (``streaming.invoke``).

Per plugin config and call shape (cached on first use): the endpoint (botocore's
partition-aware hostname, looked up once per region in a thread), the transport's
precomputed POST target, the signer with its fixed headers, and the credentials provider.
Both clients use one ``Targets``, so they share the connection pools, the hostname
lookups and the credential caches.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from dataclasses import dataclass

from yarl import URL

from .config import LambdaPluginConfig
from .credentials import CredentialProviders, CredentialSource, CredentialsProvider
from .endpoints import (
    InvokeEndpoint,
    plugin_region,
    require_function_name,
    resolve_lambda_hostname,
)
from .http_client import HttpClient, PostTarget
from .signing import RequestSigner

#: bound on cached plugin configs (a config reload makes new objects; old ones age out)
MAX_CACHED_PLUGINS = 4096


@dataclass(frozen=True, slots=True)
class CallShape:
    """One kind of call to a plugin's function: its endpoint and its signer."""

    name: str
    #: (plugin, region, hostname) -> endpoint
    endpoint: Callable[[LambdaPluginConfig, str, str], InvokeEndpoint]
    #: (plugin, endpoint, user agent) -> signer
    signer: Callable[[LambdaPluginConfig, InvokeEndpoint, str], RequestSigner]


@dataclass(frozen=True, slots=True)
class Target:
    """Everything about one plugin config's calls that does not change between requests."""

    plugin: LambdaPluginConfig  # held so that its id() stays unique while cached
    endpoint: InvokeEndpoint
    transport: PostTarget  # the pooled POST to the endpoint (and proxy)
    signer: RequestSigner
    credentials: CredentialsProvider
    proxy: URL | None  # for error messages
    function_name: str


class Targets:
    """The prepared targets of every plugin config, over one HTTP client and one set of
    credential providers."""

    def __init__(
        self, http: HttpClient, credentials: CredentialProviders, *, user_agent: str
    ) -> None:
        self.http = http
        self.credentials = credentials
        self.user_agent = user_agent
        # keyed by id(plugin): a LambdaPluginConfig may hold a dict and so be unhashable
        self._targets: dict[tuple[int, str], Target] = {}
        self._hostnames: dict[str, asyncio.Task[str]] = {}  # region -> hostname lookup

    def cached(self, plugin: LambdaPluginConfig, shape: CallShape) -> Target | None:
        target = self._targets.get((id(plugin), shape.name))
        return target if target is not None and target.plugin is plugin else None

    async def prepare(self, plugin: LambdaPluginConfig, shape: CallShape) -> Target:
        """The plugin's target for ``shape`` calls (raises NoRegionError and the like)."""
        target = self.cached(plugin, shape)
        if target is not None:
            return target
        region = plugin_region(plugin)
        function_name = require_function_name(plugin)
        hostname = plugin.host or await self._lambda_hostname(region)
        endpoint = shape.endpoint(plugin, region, hostname)
        query = f"?{endpoint.query}" if endpoint.query else ""
        target = Target(
            plugin=plugin,
            endpoint=endpoint,
            transport=self.http.post_target(
                scheme=endpoint.scheme,
                host=endpoint.host,
                port=endpoint.port,
                path=f"{endpoint.path}{query}",
                keepalive_s=max(plugin.keepalive, 0) / 1000,
                proxy_url=plugin.proxy_url,
            ),
            signer=shape.signer(plugin, endpoint, self.user_agent),
            credentials=self.credentials.provider(CredentialSource.of(plugin, region)),
            proxy=URL(plugin.proxy_url) if plugin.proxy_url else None,
            function_name=function_name,
        )
        if len(self._targets) >= MAX_CACHED_PLUGINS:
            self._targets.clear()
        self._targets[(id(plugin), shape.name)] = target
        return target

    async def close(self) -> None:
        """Close every pooled connection and stop waiting for lookups and refreshes."""
        for lookup in self._hostnames.values():
            lookup.cancel()
        await self.http.close()
        await self.credentials.close()

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

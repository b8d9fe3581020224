"""Where an Invoke call goes: region, host, port, scheme, path and query of one plugin.

Computed once per plugin config by ``invocation.LambdaClient`` (the botocore endpoint
lookup loads JSON from disk, so it runs in a thread and is cached per region).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError
from botocore.utils import percent_encode
from yarl import URL

from .config import LambdaPluginConfig
from .errors import InvocationError, NoRegionError

_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class InvokeEndpoint:
    """The Invoke URL of one plugin, split the way the signer and the transport need it."""

    region: str
    scheme: str
    host: str  # as in the URL (IPv6 literals in brackets), lower case
    port: int
    path: str  # percent-encoded as botocore encodes it
    query: str  # percent-encoded, "" without a qualifier

    @property
    def host_header(self) -> str:
        """``host``, or ``host:port`` when the port is not the scheme's default (as botocore)."""
        if _DEFAULT_PORTS[self.scheme] == self.port:
            return self.host
        return f"{self.host}:{self.port}"

    @property
    def authority(self) -> str:
        """``host:port``, for error messages."""
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> URL:
        """The whole URL of the call, path exactly as sent (``%3A`` kept: the signature
        covers it); the transport sends ``path`` and ``query``, this is for comparisons."""
        query = f"?{self.query}" if self.query else ""
        return URL(f"{self.scheme}://{self.host}:{self.port}{self.path}{query}", encoded=True)


def plugin_region(plugin: LambdaPluginConfig) -> str:
    """``aws_region``, else env ``AWS_REGION``, else ``AWS_DEFAULT_REGION`` (Kong's order)."""
    region = (
        plugin.aws_region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    )
    if not region:
        raise NoRegionError(
            "no region specified: set aws_region in the plugin config, or AWS_REGION or "
            "AWS_DEFAULT_REGION in the environment"
        )
    return region


def invoke_path(function_name: str) -> str:
    """``/2015-03-31/functions/{FunctionName}/invocations`` with botocore's label encoding."""
    return f"/2015-03-31/functions/{percent_encode(function_name)}/invocations"


def invoke_query(qualifier: str | None) -> str:
    return f"Qualifier={percent_encode(qualifier)}" if qualifier else ""


def url_host(host: str) -> str:
    """A host as it appears in a URL: lower case, IPv6 literals bracketed."""
    host = host.lower()
    if ":" in host and not host.startswith("["):
        return f"[{host}]"
    return host


def resolve_lambda_hostname(region: str) -> str:
    """The Lambda hostname botocore would use for ``region`` (partition aware: China,
    GovCloud, ISO, EU sovereign; FIPS and dual-stack when configured through the usual
    ``AWS_USE_FIPS_ENDPOINT`` / ``AWS_USE_DUALSTACK_ENDPOINT`` settings).

    Blocking (loads botocore's data files): call it in a thread. ``AWS_ENDPOINT_URL*``
    overrides are ignored: ``host``, ``port`` and ``disable_https`` are the plugin's way to
    point somewhere else.
    """
    session = botocore.session.Session()
    try:
        client = session.create_client(
            "lambda",
            region_name=region,
            aws_access_key_id="unused",
            aws_secret_access_key="unused",
            config=Config(ignore_configured_endpoint_urls=True),
        )
    except (BotoCoreError, ValueError) as exc:
        raise InvocationError(
            f"cannot resolve the Lambda endpoint for region {region!r}: {exc}"
        ) from exc
    hostname = URL(client.meta.endpoint_url).host
    client.close()
    if not hostname:
        raise InvocationError(f"cannot resolve the Lambda endpoint for region {region!r}")
    return hostname


def require_function_name(plugin: LambdaPluginConfig) -> str:
    if not plugin.function_name:
        raise InvocationError(
            "function_name is required but missing in the aws-lambda plugin config"
        )
    return plugin.function_name


def build_endpoint(plugin: LambdaPluginConfig, region: str, hostname: str) -> InvokeEndpoint:
    """The endpoint for ``plugin``; ``hostname`` is ``plugin.host`` or the resolved one."""
    return InvokeEndpoint(
        region=region,
        scheme="http" if plugin.disable_https else "https",
        host=url_host(hostname),
        port=plugin.port,
        path=invoke_path(require_function_name(plugin)),
        query=invoke_query(plugin.qualifier),
    )

"""The typed entities a loaded config file is made of: the interface between the loader
(``config_loader`` and its ``config_*`` modules) and every stage that reads a config.

This module imports nothing of lambda-route's, so that the loader and the schema modules
can import it without a cycle.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

InvocationType = Literal["RequestResponse", "Event", "DryRun"]
LogType = Literal["Tail", "None"]
PayloadVersion = Literal["1.0", "2.0"]
InvokeMode = Literal["BUFFERED", "RESPONSE_STREAM"]
FunctionUrlAuthType = Literal["NONE", "AWS_IAM"]


@dataclass(frozen=True, slots=True)
class LambdaPluginConfig:
    """The ``config`` of one ``aws-lambda`` plugin: Kong's schema (3.10 + EE 3.12's
    ``awsgateway_compatible_payload_version``) plus our documented extensions."""

    # --- Kong's schema, Kong's defaults ---
    timeout: float = 60000  # ms, bounds the whole invocation
    keepalive: float = 60000  # ms, idle lifetime of pooled connections
    aws_key: str | None = None
    aws_secret: str | None = None
    aws_assume_role_arn: str | None = None
    aws_role_session_name: str = "kong"
    aws_sts_endpoint_url: str | None = None
    aws_region: str | None = None
    function_name: str | None = None
    qualifier: str | None = None
    invocation_type: InvocationType = "RequestResponse"
    log_type: LogType = "Tail"
    host: str | None = None
    port: int = 443
    disable_https: bool = False
    unhandled_status: int | None = None
    forward_request_method: bool = False
    forward_request_uri: bool = False
    forward_request_headers: bool = False
    forward_request_body: bool = False
    is_proxy_integration: bool = False
    awsgateway_compatible: bool = False
    awsgateway_compatible_payload_version: PayloadVersion = "1.0"
    proxy_url: str | None = None
    skip_large_bodies: bool = True
    base64_encode_body: bool = True
    aws_imds_protocol_version: Literal["v1", "v2"] = "v1"  # accepted; no effect (as in Kong >= 3.5)
    # Kong's default is "legacy" ([] -> {}); ours is "correct" (see README).
    empty_arrays_mode: Literal["legacy", "correct"] = "correct"

    # --- lambda-route extensions (documented in the README as such) ---
    #: build an ALB target event instead (request) and read an ALB response (proxy integration)
    alb_target_compatible: bool = False
    #: ALB target group attribute lambda.multi_value_headers.enabled
    alb_multi_value_headers: bool = False
    #: values an API Gateway / ALB event carries that a proxy cannot know
    awsgateway_stage: str = "$default"
    awsgateway_api_id: str = "lambdaroute"
    awsgateway_account_id: str = "123456789012"
    awsgateway_resource_id: str = "lambdaroute"
    awsgateway_stage_variables: dict[str, str] | None = None
    alb_target_group_arn: str = (
        "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/lambda-route/"
        "0123456789abcdef"
    )
    #: BUFFERED: the Invoke call; RESPONSE_STREAM: InvokeWithResponseStream, relayed to the
    #: client chunk by chunk as the function writes
    invoke_mode: InvokeMode = "BUFFERED"
    #: send the Lambda Function URL event and read answers by Function URL rules
    function_url_compatible: bool = False
    #: the Function URL's id (``<id>.lambda-url.<region>.on.aws``); unset: awsgateway_api_id
    function_url_id: str | None = None
    #: the Function URL's auth type: AWS_IAM adds ``requestContext.authorizer.iam``
    function_url_auth_type: FunctionUrlAuthType = "NONE"
    #: what ``authorizer.iam`` reports for AWS_IAM (accessKey, accountId, callerId,
    #: principalOrgId, userArn, userId); a proxy cannot know the caller's identity
    function_url_caller: dict[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Consumer:
    username: str | None
    id: str | None = None
    custom_id: str | None = None


@dataclass(frozen=True, slots=True)
class KeyAuthConfig:
    """The ``config`` of a ``key-auth`` plugin (Kong 3.10's schema and defaults)."""

    key_names: tuple[str, ...] = ("apikey",)
    hide_credentials: bool = False
    #: the anonymous consumer (resolved from its id or username at load time)
    anonymous: Consumer | None = None
    key_in_header: bool = True
    key_in_query: bool = True
    key_in_body: bool = False
    run_on_preflight: bool = True
    realm: str | None = None


@dataclass(frozen=True, slots=True)
class BasicAuthConfig:
    """The ``config`` of a ``basic-auth`` plugin (Kong 3.10's schema and defaults)."""

    anonymous: Consumer | None = None
    hide_credentials: bool = False
    realm: str = "service"


@dataclass(frozen=True, slots=True)
class ScopedPlugin:
    """One configured plugin that may apply to a route; ``consumer`` is set when it is
    scoped to a consumer (then it applies only once an auth plugin identified them)."""

    name: str
    config: LambdaPluginConfig | KeyAuthConfig | BasicAuthConfig
    protocols: tuple[str, ...] = ("grpc", "grpcs", "http", "https")
    consumer: Consumer | None = None


@dataclass(frozen=True, slots=True)
class Credential:
    """A ``keyauth_credentials`` or ``basicauth_credentials`` entity."""

    consumer: Consumer
    id: str | None = None
    #: basic-auth only; plain text as in the declarative file, never shown
    password: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class Credentials:
    """Credentials indexed at load time, so that a flow hook only does dict lookups."""

    #: key-auth key -> credential (the keys are secrets: never logged)
    keys: Mapping[str, Credential] = field(default_factory=dict, repr=False)
    #: basic-auth username -> credential
    basic: Mapping[str, Credential] = field(default_factory=dict, repr=False)


@dataclass(frozen=True, slots=True)
class Plugin:
    """A plugin entity. Only ``aws-lambda`` plugins carry a parsed ``lambda_config``."""

    name: str
    id: str | None = None
    enabled: bool = True
    service: str | None = None  # service id or name it is scoped to (resolved)
    route: str | None = None  # route id or name it is scoped to (resolved)
    consumer: str | None = None
    lambda_config: LambdaPluginConfig | None = None


@dataclass(frozen=True, slots=True)
class Service:
    name: str | None
    id: str | None = None
    protocol: str = "http"
    host: str | None = None
    port: int | None = None
    path: str | None = None
    #: Kong: the routes of a disabled service are not routed
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class HeaderMatch:
    name: str  # lower-case
    values: tuple[str, ...]  # any of; Kong 3: a value "~*regex" is a case-insensitive regex


@dataclass(frozen=True, slots=True)
class Route:
    name: str | None
    id: str | None = None
    service: Service | None = None
    hosts: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()  # as configured: prefixes, or "~regex"
    methods: tuple[str, ...] = ()
    headers: tuple[HeaderMatch, ...] = ()
    protocols: tuple[str, ...] = ("http", "https")
    strip_path: bool = True
    preserve_host: bool = False
    regex_priority: int = 0
    #: the aws-lambda plugin that applies to this route without a consumer
    #: (route+service > route > service > global), if any
    lambda_plugin: LambdaPluginConfig | None = None
    #: every aws-lambda plugin that may apply, most specific scope first (Kong's
    #: precedence, consumer scopes included): the first whose consumer is unset or the
    #: authenticated one applies
    lambda_plugins: tuple[ScopedPlugin, ...] = ()
    #: the key-auth and basic-auth plugins that apply, in Kong's order (priority)
    auth_plugins: tuple[ScopedPlugin, ...] = ()
    #: the plugins that run depend on the request (auth plugins, consumer scopes or
    #: ``protocols``); False lets every other route skip that work
    per_request_plugins: bool = False
    #: index in the file, the final tie-breaker
    order: int = 0
    #: Kong: what to answer when an https-only route is requested over http (426 or a redirect)
    https_redirect_status_code: int = 426
    #: TLS server names (only checked for https requests, as in Kong)
    snis: tuple[str, ...] = ()
    #: "v0" or "v1"; Kong's traditional_compatible router always behaves as "v0"
    path_handling: str = "v0"


@dataclass(frozen=True, slots=True)
class LambdaRouteConfig:
    """A whole loaded config file."""

    source: str  # the file path it was loaded from
    routes: tuple[Route, ...] = ()
    services: tuple[Service, ...] = ()
    consumers: tuple[Consumer, ...] = ()
    #: names of Kong plugins lambda-route does not run (warned about, see ``warnings``)
    ignored_plugins: tuple[str, ...] = field(default=())
    #: every enabled aws-lambda plugin, in file order
    plugins: tuple[Plugin, ...] = ()
    credentials: Credentials = field(default_factory=Credentials)
    #: what the user should know about this config (logged once per distinct set)
    warnings: tuple[str, ...] = ()

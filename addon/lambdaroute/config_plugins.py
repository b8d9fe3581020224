"""Kong's ``plugins`` entity: top-level or nested in a service, route or consumer;
the ``aws-lambda`` config is checked by ``lambda_schema``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .config_auth import AUTH_PLUGINS, parse_auth_config
from .config_fields import (
    HTTP_PROTOCOLS,
    PROTOCOLS,
    LoadState,
    PluginRecord,
    check_fields,
    check_id,
    read_boolean,
    read_mapping,
    read_reference,
    read_string,
    read_strings,
)
from .config_types import Consumer, Service
from .lambda_schema import parse_lambda_config
from .validators import FieldError, did_you_mean

_PLUGIN_FIELDS = frozenset(
    [
        "id",
        "name",
        "created_at",
        "updated_at",
        "route",
        "service",
        "consumer",
        "consumer_group",
        "config",
        "protocols",
        "enabled",
        "tags",
        "instance_name",
        "ordering",
        "partials",
    ]
)

#: Kong 3.10's bundled plugins (``kong/constants.lua``): another name is an error in Kong
#: ("plugin ... not enabled"), and here too
KONG_BUNDLED_PLUGINS = (
    "jwt",
    "acl",
    "correlation-id",
    "cors",
    "oauth2",
    "tcp-log",
    "udp-log",
    "file-log",
    "http-log",
    "key-auth",
    "hmac-auth",
    "basic-auth",
    "ip-restriction",
    "request-transformer",
    "response-transformer",
    "request-size-limiting",
    "rate-limiting",
    "response-ratelimiting",
    "syslog",
    "loggly",
    "datadog",
    "ldap-auth",
    "statsd",
    "bot-detection",
    "aws-lambda",
    "request-termination",
    "prometheus",
    "proxy-cache",
    "session",
    "acme",
    "grpc-gateway",
    "grpc-web",
    "pre-function",
    "post-function",
    "azure-functions",
    "zipkin",
    "opentelemetry",
    "ai-proxy",
    "ai-prompt-decorator",
    "ai-prompt-template",
    "ai-prompt-guard",
    "ai-request-transformer",
    "ai-response-transformer",
    "standard-webhooks",
    "redirect",
)
_BUNDLED = frozenset(KONG_BUNDLED_PLUGINS)
#: the plugins whose ``protocols`` Kong restricts to ``typedefs.protocols_http``
_HTTP_ONLY = frozenset(("aws-lambda", *AUTH_PLUGINS))


def read_top_plugin(state: LoadState, raw: Any, where: str) -> None:
    _read_plugin(state, raw, where, None)


def read_nested_plugins(
    state: LoadState,
    raw: Mapping[Any, Any],
    where: str,
    label: str,
    *,
    service: Service | None = None,
    route_index: int | None = None,
    consumer: Consumer | None = None,
) -> None:
    """The ``plugins`` array nested in a service, route or consumer entity."""
    plugins = raw.get("plugins")
    if plugins is None:
        return
    if not isinstance(plugins, list):
        raise state.error("expected an array", entity=label, field_name="plugins")
    for p_index, plugin_raw in enumerate(plugins):
        _read_plugin(
            state,
            plugin_raw,
            f"{where}.plugins[{p_index}]",
            label,
            service=service,
            route_index=route_index,
            consumer=consumer,
        )


def _read_plugin(
    state: LoadState,
    raw: Any,
    where: str,
    parent_label: str | None,
    *,
    service: Service | None = None,
    route_index: int | None = None,
    consumer: Consumer | None = None,
) -> None:
    name = raw.get("name") if isinstance(raw, Mapping) else None
    base = f"plugin '{name}'" if isinstance(name, str) else f"plugin at {where}"
    label = f"{base} ({parent_label})" if parent_label else base
    try:
        if not isinstance(raw, Mapping):
            raise FieldError("", "expected a record")
        check_fields(raw, _PLUGIN_FIELDS)
        if name is None:
            raise FieldError("name", "required field missing")
        read_string(name, "name")
        if name not in _BUNDLED:
            raise FieldError(
                "name",
                f"unknown plugin '{name}': not one of Kong's bundled plugins"
                + did_you_mean(name, KONG_BUNDLED_PLUGINS),
            )
        plugin_id = check_id(raw)
        enabled = True if raw.get("enabled") is None else read_boolean(raw["enabled"], "enabled")
        refs: dict[str, str | None] = {}
        for key, nested in (
            ("service", service),
            ("route", route_index),
            ("consumer", consumer),
        ):
            refs[key] = None
            if raw.get(key) is not None:
                if nested is not None:
                    raise FieldError(key, f"must not be set on a plugin nested in {parent_label}")
                refs[key] = read_reference(raw[key], key)
        if raw.get("consumer_group") is not None:  # Kong EE: scoped like a consumer
            refs["consumer_group"] = read_reference(raw["consumer_group"], "consumer_group")
        if name in AUTH_PLUGINS and (consumer is not None or refs["consumer"] is not None):
            raise FieldError("consumer", "value must be null")  # Kong: no_consumer
        if not parent_label:
            scope = [f"{k} '{v}'" for k, v in refs.items() if v is not None]
            label = f"{base} ({', '.join(scope) or 'global'})"
        plugin_protocols: tuple[str, ...] = HTTP_PROTOCOLS
        if raw.get("protocols") is not None:
            plugin_protocols = values = read_strings(raw["protocols"], "protocols", "set")
            allowed = HTTP_PROTOCOLS if name in _HTTP_ONLY else PROTOCOLS
            for i, protocol in enumerate(values):
                if protocol not in allowed:
                    raise FieldError(f"protocols[{i}]", "expected one of: " + ", ".join(allowed))
        if raw.get("tags") is not None:
            read_strings(raw["tags"], "tags", "set")
        lambda_config = None
        auth_config, anonymous = None, None
        if name == "aws-lambda":
            lambda_config = parse_lambda_config(raw.get("config"), state.vaults)
        elif name in AUTH_PLUGINS:
            auth_config, anonymous = parse_auth_config(name, raw.get("config"))
        elif raw.get("config") is not None:
            read_mapping(raw["config"], "config")
    except FieldError as exc:
        raise state.error(exc.message, entity=label, field_name=exc.field) from None
    state.plugins.append(
        PluginRecord(
            label=label,
            name=name,
            id=plugin_id,
            enabled=enabled,
            lambda_config=lambda_config,
            protocols=plugin_protocols,
            auth_config=auth_config,
            anonymous_ref=anonymous,
            service_ref=refs["service"],
            route_ref=refs["route"],
            consumer_ref=refs["consumer"],
            consumer_group_ref=refs.get("consumer_group"),
            service=service,
            route_index=route_index,
            consumer=consumer,
        )
    )

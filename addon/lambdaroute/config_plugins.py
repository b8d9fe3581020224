"""Kong's ``plugins`` entity: top-level or nested in a service, route or consumer;
the ``aws-lambda`` config is checked by ``lambda_schema``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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
from .validators import FieldError

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


# --- plugins ---


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
        if not parent_label:
            scope = [f"{k} '{v}'" for k, v in refs.items() if v is not None]
            label = f"{base} ({', '.join(scope) or 'global'})"
        protocols = raw.get("protocols")
        if protocols is not None:
            values = read_strings(protocols, "protocols", "set")
            allowed = HTTP_PROTOCOLS if name == "aws-lambda" else PROTOCOLS
            for i, protocol in enumerate(values):
                if protocol not in allowed:
                    raise FieldError(f"protocols[{i}]", "expected one of: " + ", ".join(allowed))
        if raw.get("tags") is not None:
            read_strings(raw["tags"], "tags", "set")
        lambda_config = None
        if name == "aws-lambda":
            lambda_config = parse_lambda_config(raw.get("config"), state.vaults)
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
            service_ref=refs["service"],
            route_ref=refs["route"],
            consumer_ref=refs["consumer"],
            consumer_group_ref=refs.get("consumer_group"),
            service=service,
            route_index=route_index,
            consumer=consumer,
        )
    )

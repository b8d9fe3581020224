"""The last loading step: resolve references, check uniqueness, and pick the plugin
that applies to each route (Kong's precedence)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TypeVar

from .config_auth import AUTH_PLUGINS
from .config_fields import HTTP_PROTOCOLS, LoadState, PluginRecord
from .config_types import (
    Consumer,
    Credential,
    Credentials,
    LambdaPluginConfig,
    LambdaRouteConfig,
    Plugin,
    Route,
    ScopedPlugin,
    Service,
)

_T = TypeVar("_T")

_ACTING = frozenset(("aws-lambda", *AUTH_PLUGINS))

#: Kong's precedence (``plugins_iterator.lua`` lookup_cfg), keyed by which of
#: (consumer, route, service) the plugin is scoped to: the highest rank applies
_RANKS = {
    (True, True, True): 8,
    (True, True, False): 7,
    (True, False, True): 6,
    (False, True, True): 5,
    (True, False, False): 4,
    (False, True, False): 3,
    (False, False, True): 2,
    (False, False, False): 1,
}


def assemble(state: LoadState) -> LambdaRouteConfig:
    s = state
    services_by_key = _index_services(state)
    routes_by_key = _index_routes(state)
    consumers_by_key = _index_consumers(state)
    anonymous_keys = {
        key: consumer
        for consumer in s.consumers
        for key in (consumer.id, consumer.username)
        if key is not None
    }

    route_services: list[Service | None] = []
    for record in s.routes:
        service = record.service
        if record.service_ref is not None:
            service = services_by_key.get(record.service_ref)
            if service is None:
                raise s.error(
                    f"refers to service '{record.service_ref}' which does not exist",
                    entity=record.label,
                    field_name="service",
                )
        route_services.append(service)

    # scope of each plugin: (service, route index, consumer)
    scoped: list[tuple[PluginRecord, Service | None, int | None, Consumer | None]] = []
    seen: dict[tuple[str, int | None, int | None, int | None], str] = {}
    for plugin in s.plugins:
        service, route_index, consumer = plugin.service, plugin.route_index, plugin.consumer
        if plugin.service_ref is not None:
            service = _lookup(state, services_by_key, plugin, "service", plugin.service_ref)
        if plugin.route_ref is not None:
            route_index = _lookup(state, routes_by_key, plugin, "route", plugin.route_ref)
        if plugin.consumer_ref is not None:
            consumer = _lookup(state, consumers_by_key, plugin, "consumer", plugin.consumer_ref)
        key = (
            plugin.name,
            None if service is None else next(i for i, x in enumerate(s.services) if x is service),
            route_index,
            None
            if consumer is None
            else next(i for i, x in enumerate(s.consumers) if x is consumer),
        )
        if key in seen:
            raise s.error(
                f"the plugin '{plugin.name}' is configured twice for the same scope "
                f"(also as {seen[key]})",
                entity=plugin.label,
            )
        seen[key] = plugin.label
        if plugin.id is not None and plugin.id in {p.id for p in s.plugins if p is not plugin}:
            raise s.error(f"duplicate id '{plugin.id}'", entity=plugin.label, field_name="id")
        scoped.append((plugin, service, route_index, consumer))

    warnings: list[str] = []
    ignored: list[str] = []
    lambda_plugins: list[Plugin] = []
    applicable: list[tuple[int, PluginRecord, Service | None, int | None, Consumer | None]] = []
    for plugin, service, route_index, consumer in scoped:
        if not plugin.enabled:
            continue
        if plugin.name not in _ACTING:
            if plugin.name not in ignored:
                ignored.append(plugin.name)
            continue
        if plugin.anonymous_ref is not None and plugin.anonymous_ref not in anonymous_keys:
            raise s.error(
                f"anonymous consumer '{plugin.anonymous_ref}' does not exist",
                entity=plugin.label,
                field_name="config.anonymous",
            )
        if plugin.anonymous_ref is not None and plugin.auth_config is not None:
            anonymous = anonymous_keys[plugin.anonymous_ref]
            plugin.auth_config = replace(plugin.auth_config, anonymous=anonymous)
        if plugin.name == "aws-lambda":
            lambda_plugins.append(_public_plugin(state, plugin, service, route_index, consumer))
        if plugin.consumer_group_ref is not None:
            warnings.append(
                f"lambda-route: {plugin.label} is not applied: consumer groups are not read"
            )
            continue
        rank = _RANKS[(consumer is not None, route_index is not None, service is not None)]
        applicable.append((rank, plugin, service, route_index, consumer))
    applicable.sort(key=lambda item: -item[0])
    if ignored:
        warnings.append(
            "lambda-route: only aws-lambda, key-auth and basic-auth plugins act; ignoring: "
            + ", ".join(ignored)
        )

    routes: list[Route] = []
    for index, record in enumerate(s.routes):
        service = route_services[index]
        found: dict[str, list[ScopedPlugin]] = {}
        for _rank, plugin, p_service, p_route, p_consumer in applicable:
            if p_route is not None and p_route != index:
                continue
            if p_service is not None and p_service is not service:
                continue
            chain = found.setdefault(plugin.name, [])
            if chain and chain[-1].consumer is None:
                continue  # a less specific config than one that always applies
            config = plugin.lambda_config or plugin.auth_config
            assert config is not None
            chain.append(ScopedPlugin(plugin.name, config, plugin.protocols, p_consumer))
        chain = found.get("aws-lambda", [])
        default = chain[-1].config if chain and chain[-1].consumer is None else None
        every_protocol = frozenset(HTTP_PROTOCOLS)
        per_request = any(
            p.consumer is not None or not every_protocol <= set(p.protocols)
            for plugins in found.values()
            for p in plugins
        )
        route = Route(
            service=service,
            lambda_plugin=default if isinstance(default, LambdaPluginConfig) else None,
            lambda_plugins=tuple(chain),
            auth_plugins=tuple(found[name][0] for name in AUTH_PLUGINS if name in found),
            per_request_plugins=per_request or any(name in found for name in AUTH_PLUGINS),
            order=index,
            **record.fields,
        )
        warnings.extend(_strip_path_warnings(record.label, route))
        routes.append(route)
    return LambdaRouteConfig(
        source=s.file,
        routes=tuple(routes),
        services=tuple(s.services),
        consumers=tuple(s.consumers),
        ignored_plugins=tuple(ignored),
        plugins=tuple(lambda_plugins),
        credentials=_index_credentials(state, consumers_by_key),
        warnings=tuple(warnings),
    )


def _public_plugin(
    state: LoadState,
    plugin: PluginRecord,
    service: Service | None,
    route_index: int | None,
    consumer: Consumer | None,
) -> Plugin:
    return Plugin(
        name=plugin.name,
        id=plugin.id,
        enabled=True,
        service=None if service is None else (service.id or service.name),
        route=None if route_index is None else _route_key(state, route_index),
        consumer=None
        if consumer is None
        else (consumer.id or consumer.username or consumer.custom_id),
        lambda_config=plugin.lambda_config,
    )


def _strip_path_warnings(label: str, route: Route) -> list[str]:
    """Kong strips the matched prefix (or the regex match) from the path an API Gateway
    event carries; web adapters that route on ``path`` then see the wrong path."""
    if not route.strip_path or not any(p.startswith("~") or p != "/" for p in route.paths):
        return []
    if not any(
        isinstance(p.config, LambdaPluginConfig)
        and (p.config.awsgateway_compatible or p.config.function_url_compatible)
        for p in route.lambda_plugins
    ):
        return []
    return [
        f"lambda-route: {label}: strip_path is true (Kong's default), so the API Gateway "
        "event's path has the matched part of the path removed, which breaks web adapters "
        "that route on it (Mangum, Powertools, WSGI/ASGI); set strip_path: false on the "
        "route to send the full path"
    ]


def _index_credentials(state: LoadState, consumers_by_key: Mapping[str, Consumer]) -> Credentials:
    keys: dict[str, Credential] = {}
    basic: dict[str, Credential] = {}
    for record in state.credentials:
        consumer = record.consumer
        if record.consumer_ref is not None:
            consumer = consumers_by_key.get(record.consumer_ref)
            if consumer is None:
                raise state.error(
                    f"refers to consumer '{record.consumer_ref}' which does not exist",
                    entity=record.label,
                    field_name="consumer",
                )
        assert consumer is not None
        if record.identifier is None:
            continue  # Kong would generate a key nobody knows
        table, what = (keys, "key") if record.kind == "keyauth_credentials" else (basic, "username")
        if record.identifier in table:
            raise state.error(
                f"duplicate {what}: another credential has the same {what}",
                entity=record.label,
                field_name=what,
            )
        table[record.identifier] = Credential(consumer, record.credential_id, record.password)
    return Credentials(keys=keys, basic=basic)


def _lookup(
    state: LoadState, table: Mapping[str, _T], plugin: PluginRecord, kind: str, ref: str
) -> _T:
    target = table.get(ref)
    if target is None:
        raise state.error(
            f"refers to {kind} '{ref}' which does not exist",
            entity=plugin.label,
            field_name=kind,
        )
    return target


def _route_key(state: LoadState, index: int) -> str | None:
    fields = state.routes[index].fields
    return fields.get("id") or fields.get("name")


def _index_services(state: LoadState) -> dict[str, Service]:
    out: dict[str, Service] = {}
    for index, service in enumerate(state.services):
        label = state.service_labels[index]
        for kind, key in (("name", service.name), ("id", service.id)):
            if key is None:
                continue
            if key in out and out[key] is not service:
                raise state.error(f"duplicate {kind} '{key}'", entity=label, field_name=kind)
            out[key] = service
    return out


def _index_routes(state: LoadState) -> dict[str, int]:
    out: dict[str, int] = {}
    for index, record in enumerate(state.routes):
        for kind in ("name", "id"):
            key = record.fields.get(kind)
            if key is None:
                continue
            if key in out and out[key] != index:
                raise state.error(f"duplicate {kind} '{key}'", entity=record.label, field_name=kind)
            out[key] = index
    return out


def _index_consumers(state: LoadState) -> dict[str, Consumer]:
    out: dict[str, Consumer] = {}
    for consumer in state.consumers:
        for key in (consumer.id, consumer.username, consumer.custom_id):
            if key is not None:
                out.setdefault(key, consumer)
    return out

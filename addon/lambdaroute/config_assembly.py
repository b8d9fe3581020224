"""The last loading step: resolve references, check uniqueness, and pick the plugin
that applies to each route (Kong's precedence)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from .config_fields import LoadState, PluginRecord
from .config_types import Consumer, LambdaPluginConfig, LambdaRouteConfig, Plugin, Route, Service

_T = TypeVar("_T")


# --- assembly: references, uniqueness, plugin precedence ---


def assemble(state: LoadState) -> LambdaRouteConfig:
    s = state
    services_by_key = _index_services(state)
    routes_by_key = _index_routes(state)
    consumers_by_key = _index_consumers(state)

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

    ignored: list[str] = []
    consumer_scoped: list[str] = []
    lambda_plugins: list[Plugin] = []
    applicable: list[tuple[int, PluginRecord, Service | None, int | None]] = []
    for plugin, service, route_index, consumer in scoped:
        if not plugin.enabled:
            continue
        if plugin.name != "aws-lambda":
            if plugin.name not in ignored:
                ignored.append(plugin.name)
            continue
        lambda_plugins.append(
            Plugin(
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
        )
        if consumer is not None or plugin.consumer_group_ref is not None:
            consumer_scoped.append(plugin.label)
            continue
        rank = (2 if route_index is not None else 0) + (1 if service is not None else 0)
        applicable.append((rank, plugin, service, route_index))

    routes: list[Route] = []
    for index, record in enumerate(s.routes):
        service = route_services[index]
        best: tuple[int, LambdaPluginConfig | None] = (-1, None)
        for rank, plugin, p_service, p_route in applicable:
            if p_route is not None and p_route != index:
                continue
            if p_service is not None and p_service is not service:
                continue
            if rank > best[0]:
                best = (rank, plugin.lambda_config)
        routes.append(Route(service=service, lambda_plugin=best[1], order=index, **record.fields))
    return LambdaRouteConfig(
        source=s.file,
        routes=tuple(routes),
        services=tuple(s.services),
        consumers=tuple(s.consumers),
        ignored_plugins=tuple(ignored),
        plugins=tuple(lambda_plugins),
        consumer_scoped_plugins=tuple(consumer_scoped),
    )


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

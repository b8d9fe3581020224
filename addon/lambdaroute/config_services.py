"""Kong's ``services`` entity (``kong/db/schema/entities/services.lua``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .config_fields import (
    PROTOCOLS,
    LoadState,
    check_between,
    check_fields,
    check_id,
    check_name,
    entity_label,
    optional,
    read_boolean,
    read_integer,
    read_string,
    read_strings,
)
from .config_plugins import read_nested_plugins
from .config_routes import read_route
from .config_types import Service
from .validators import FieldError, split_url, validate_host, validate_service_path, validate_url

_SERVICE_FIELDS = frozenset(
    [
        "id",
        "name",
        "created_at",
        "updated_at",
        "retries",
        "protocol",
        "host",
        "port",
        "path",
        "url",
        "connect_timeout",
        "write_timeout",
        "read_timeout",
        "tags",
        "client_certificate",
        "tls_verify",
        "tls_verify_depth",
        "ca_certificates",
        "tls_sans",
        "enabled",
        "routes",
        "plugins",
    ]
)


# --- services ---


def read_service(state: LoadState, raw: Any, where: str) -> None:
    label = (
        entity_label("service", raw, where) if isinstance(raw, Mapping) else f"service at {where}"
    )
    try:
        if not isinstance(raw, Mapping):
            raise FieldError("", "expected a record")
        service = _parse_service(raw)
    except FieldError as exc:
        raise state.error(exc.message, entity=label, field_name=exc.field) from None
    index = len(state.services)
    state.services.append(service)
    state.service_labels[index] = label
    routes = raw.get("routes")
    if routes is not None:
        if not isinstance(routes, list):
            raise state.error("expected an array", entity=label, field_name="routes")
        for r_index, route_raw in enumerate(routes):
            read_route(state, route_raw, f"{where}.routes[{r_index}]", service, label)
    read_nested_plugins(state, raw, where, label, service=service)


def _parse_service(raw: Mapping[Any, Any]) -> Service:
    check_fields(raw, _SERVICE_FIELDS)
    service_id, name = check_id(raw), check_name(raw)
    protocol: str | None = None
    host: str | None = None
    port: int | None = None
    path: str | None = None
    url = optional(raw, "url")
    if url is not None:
        error = validate_url(read_string(url, "url"))
        if error:
            raise FieldError("url", error)
        protocol, host, port, path = split_url(url)
        if port is None:
            port = 443 if protocol == "https" else 80
        protocol = protocol or "http"
    if optional(raw, "protocol") is not None:
        protocol = read_string(raw["protocol"], "protocol")
    protocol = protocol or "http"
    if protocol not in PROTOCOLS:
        raise FieldError("protocol", "expected one of: " + ", ".join(PROTOCOLS))
    if optional(raw, "host") is not None:
        host = read_string(raw["host"], "host")
    if not host:
        raise FieldError("host", "required field missing")
    error = validate_host(host)
    if error:
        raise FieldError("host", error)
    if optional(raw, "port") is not None:
        port = check_between(read_integer(raw["port"], "port"), 0, 65535, "port")
    if optional(raw, "path") is not None:
        path = read_string(raw["path"], "path")
    if path is not None:
        error = validate_service_path(path)
        if error:
            raise FieldError("path", error)
        if protocol in ("tcp", "tls", "tls_passthrough", "udp", "grpc", "grpcs"):
            raise FieldError("path", "value must be null")
    if optional(raw, "retries") is not None:
        check_between(read_integer(raw["retries"], "retries"), 0, 32767, "retries")
    for timeout in ("connect_timeout", "write_timeout", "read_timeout"):
        if optional(raw, timeout) is not None:
            check_between(read_integer(raw[timeout], timeout), 1, 2**31 - 2, timeout)
    if optional(raw, "tls_verify") is not None:
        read_boolean(raw["tls_verify"], "tls_verify")
    enabled = True
    if optional(raw, "enabled") is not None:
        enabled = read_boolean(raw["enabled"], "enabled")
    if optional(raw, "tags") is not None:
        read_strings(raw["tags"], "tags", "set")
    return Service(
        name=name,
        id=service_id,
        protocol=protocol,
        host=host,
        port=80 if port is None else port,
        path=path,
        enabled=enabled,
    )

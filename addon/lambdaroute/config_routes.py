"""Kong's ``routes`` entity and its protocol subschemas (``routes.lua``,
``routes_subschemas.lua``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .config_fields import (
    PROTOCOLS,
    LoadState,
    RouteRecord,
    check_between,
    check_fields,
    check_id,
    check_name,
    entity_label,
    optional,
    read_array,
    read_boolean,
    read_integer,
    read_reference,
    read_string,
    read_strings,
)
from .config_plugins import read_nested_plugins
from .config_types import HeaderMatch, Service
from .validators import (
    FieldError,
    compile_route_regex,
    validate_header_name,
    validate_route_host,
    validate_route_path,
    validate_sni,
)

_PROTOCOL_SUBSETS = (
    ("http", "https"),
    ("tcp", "tls", "udp"),
    ("tls_passthrough",),
    ("grpc", "grpcs"),
    ("ws", "wss"),
)
_REDIRECT_CODES = (426, 301, 302, 307, 308)
_METHOD = re.compile(r"^[A-Z]+$")


_ROUTE_FIELDS = frozenset(
    [
        "id",
        "name",
        "created_at",
        "updated_at",
        "protocols",
        "methods",
        "hosts",
        "paths",
        "headers",
        "https_redirect_status_code",
        "regex_priority",
        "strip_path",
        "path_handling",
        "preserve_host",
        "request_buffering",
        "response_buffering",
        "snis",
        "sources",
        "destinations",
        "tags",
        "service",
        "plugins",
    ]
)


def read_top_route(state: LoadState, raw: Any, where: str) -> None:
    read_route(state, raw, where, None, None)


def read_route(
    state: LoadState, raw: Any, where: str, service: Service | None, service_label: str | None
) -> None:
    label = entity_label("route", raw, where) if isinstance(raw, Mapping) else f"route at {where}"
    try:
        if not isinstance(raw, Mapping):
            raise FieldError("", "expected a record")
        fields = _parse_route(raw)
        service_ref = None
        if optional(raw, "service") is not None:
            if service is not None:
                raise FieldError("service", f"must not be set on a route nested in {service_label}")
            service_ref = read_reference(raw["service"], "service")
    except FieldError as exc:
        raise state.error(exc.message, entity=label, field_name=exc.field) from None
    index = len(state.routes)
    state.routes.append(RouteRecord(label, fields, service, service_ref))
    read_nested_plugins(state, raw, where, label, route_index=index)


def _parse_route(raw: Mapping[Any, Any]) -> dict[str, Any]:
    check_fields(raw, _ROUTE_FIELDS)
    out: dict[str, Any] = {"id": check_id(raw), "name": check_name(raw)}
    protocols: tuple[str, ...] = ("http", "https")
    if optional(raw, "protocols") is not None:
        protocols = read_strings(raw["protocols"], "protocols", "set")
        if not protocols:
            raise FieldError("protocols", "length must be at least 1")
        for i, protocol in enumerate(protocols):
            if protocol not in PROTOCOLS:
                raise FieldError(f"protocols[{i}]", "expected one of: " + ", ".join(PROTOCOLS))
        subsets = [sub for sub in _PROTOCOL_SUBSETS if set(sub) & set(protocols)]
        if len(subsets) > 1:
            listed = ", ".join("(" + ", ".join(f"'{p}'" for p in sub) + ")" for sub in subsets)
            raise FieldError("protocols", f"these sets are mutually exclusive: {listed}")
    out["protocols"] = protocols

    methods: tuple[str, ...] = ()
    if optional(raw, "methods") is not None:
        methods = read_strings(raw["methods"], "methods", "set")
        for i, method in enumerate(methods):
            if not _METHOD.match(method):
                raise FieldError(f"methods[{i}]", f"invalid value: {method}")
    hosts: tuple[str, ...] = ()
    if optional(raw, "hosts") is not None:
        hosts = read_strings(raw["hosts"], "hosts")
        for i, host in enumerate(hosts):
            error = validate_route_host(host)
            if error:
                raise FieldError(f"hosts[{i}]", error)
    paths: tuple[str, ...] = ()
    if optional(raw, "paths") is not None:
        paths = read_strings(raw["paths"], "paths")
        for i, path in enumerate(paths):
            error = validate_route_path(path)
            if error is None and path.startswith("~"):
                try:
                    compile_route_regex(path[1:])
                except re.error as exc:
                    error = f"invalid regex: '{path[1:]}' ({exc})"
            if error:
                raise FieldError(f"paths[{i}]", error)
    headers = _parse_headers(optional(raw, "headers"))
    snis: tuple[str, ...] = ()
    if optional(raw, "snis") is not None:
        snis = read_strings(raw["snis"], "snis", "set")
        for i, sni in enumerate(snis):
            error = validate_sni(sni)
            if error:
                raise FieldError(f"snis[{i}]", error)
    sources = _parse_endpoints(optional(raw, "sources"), "sources")
    destinations = _parse_endpoints(optional(raw, "destinations"), "destinations")
    if optional(raw, "tags") is not None:
        read_strings(raw["tags"], "tags", "set")

    subschema = protocols[0]
    is_grpc = subschema in ("grpc", "grpcs")
    strip_path = not is_grpc
    if optional(raw, "strip_path") is not None:
        strip_path = read_boolean(raw["strip_path"], "strip_path")
    if optional(raw, "preserve_host") is not None:
        out["preserve_host"] = read_boolean(raw["preserve_host"], "preserve_host")
    for flag in ("request_buffering", "response_buffering"):
        if optional(raw, flag) is not None:
            read_boolean(raw[flag], flag)
    if optional(raw, "regex_priority") is not None:
        out["regex_priority"] = read_integer(raw["regex_priority"], "regex_priority")
    if optional(raw, "path_handling") is not None:
        value = read_string(raw["path_handling"], "path_handling")
        if value not in ("v0", "v1"):
            raise FieldError("path_handling", "expected one of: v0, v1")
        out["path_handling"] = value
    if optional(raw, "https_redirect_status_code") is not None:
        code = read_integer(raw["https_redirect_status_code"], "https_redirect_status_code")
        if code not in _REDIRECT_CODES:
            raise FieldError(
                "https_redirect_status_code",
                "expected one of: " + ", ".join(str(c) for c in _REDIRECT_CODES),
            )
        out["https_redirect_status_code"] = code

    # Kong's entity checks and the protocol subschemas (routes_subschemas.lua)
    if snis and not set(protocols) & {"grpcs", "https", "tls", "tls_passthrough"}:
        raise FieldError(
            "snis",
            "'snis' can only be set when 'protocols' is 'grpcs', 'https', 'tls' or "
            "'tls_passthrough'",
        )
    present = {
        "methods": bool(methods),
        "hosts": bool(hosts),
        "headers": bool(headers),
        "paths": bool(paths),
        "snis": bool(snis),
        "sources": bool(sources),
        "destinations": bool(destinations),
    }
    if subschema in ("http", "https", "ws", "wss"):
        for name in ("sources", "destinations"):
            if present[name]:
                raise FieldError(name, f"cannot set '{name}' when 'protocols' is 'http' or 'https'")
        _at_least_one(
            present,
            protocols,
            ("https", "wss"),
            ("methods", "hosts", "headers", "paths", "snis"),
            ("methods", "hosts", "headers", "paths"),
        )
    elif is_grpc:
        if strip_path:
            raise FieldError(
                "strip_path", "cannot set 'strip_path' when 'protocols' is 'grpc' or 'grpcs'"
            )
        for name in ("methods", "sources", "destinations"):
            if present[name]:
                raise FieldError(name, f"cannot set '{name}' when 'protocols' is 'grpc' or 'grpcs'")
        _at_least_one(
            present,
            protocols,
            ("grpcs",),
            ("hosts", "headers", "paths", "snis"),
            ("hosts", "headers", "paths"),
        )
    else:  # stream routes: accepted, never matched by the HTTP router
        for name in ("methods", "hosts", "paths", "headers"):
            if present[name]:
                raise FieldError(name, f"cannot set '{name}' when 'protocols' is 'tcp' or 'tls'")
        if not (present["sources"] or present["destinations"] or present["snis"]):
            raise FieldError(
                "",
                "must set one of 'sources', 'destinations', 'snis' when 'protocols' is "
                "'tcp' or 'tls'",
            )
    out.update(
        methods=methods,
        hosts=hosts,
        paths=paths,
        headers=headers,
        snis=snis,
        strip_path=strip_path,
    )
    return out


def _at_least_one(
    present: dict[str, bool],
    protocols: tuple[str, ...],
    secure: tuple[str, ...],
    secure_fields: tuple[str, ...],
    plain_fields: tuple[str, ...],
) -> None:
    tls = next((p for p in protocols if p in secure), None)
    names = secure_fields if tls else plain_fields
    if any(present[name] for name in names):
        return
    proto = tls or protocols[0]
    listed = ", ".join(f"'{name}'" for name in names)
    raise FieldError("", f"must set one of {listed} when 'protocols' is '{proto}'")


def _parse_headers(value: Any) -> tuple[HeaderMatch, ...]:
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        raise FieldError("headers", "expected a map")
    out = []
    for name, values in value.items():
        if not isinstance(name, str):
            raise FieldError("headers", "expected a string key")
        error = validate_header_name(name)
        if error is None and name.lower() == "host":
            error = "cannot contain 'host' header, which must be specified in the 'hosts' attribute"
        if error:
            raise FieldError(f"headers.{name}", error)
        items = read_strings(values, f"headers.{name}")
        for i, item in enumerate(items):
            if item.startswith("~*"):
                try:
                    re.compile(item[2:].lower())
                except re.error as exc:
                    raise FieldError(
                        f"headers.{name}[{i}]", f"invalid regex: '{item[2:]}' ({exc})"
                    ) from None
        out.append(HeaderMatch(name.lower(), items))
    return tuple(out)


def _parse_endpoints(value: Any, name: str) -> tuple[Any, ...]:
    if value is None:
        return ()
    items = read_array(value, name, "set")
    for i, item in enumerate(items):
        where = f"{name}[{i}]"
        if not isinstance(item, Mapping):
            raise FieldError(where, "expected a record")
        check_fields(item, frozenset(("ip", "port")))
        if item.get("ip") is None and item.get("port") is None:
            raise FieldError(where, "at least one of these fields must be non-empty: 'ip', 'port'")
        if item.get("ip") is not None:
            read_string(item["ip"], f"{where}.ip")
        if item.get("port") is not None:
            check_between(read_integer(item["port"], f"{where}.port"), 0, 65535, f"{where}.port")
    return tuple(items)

"""Load a Kong declarative config file into ``config`` dataclasses, with Kong's rules.

Entities and checks follow Kong 3.x (``kong/db/schema/entities/*.lua``, the routes
subschemas and the declarative format): services with nested routes and plugins, top-level
routes and plugins referring to services/routes/consumers by name or id, consumers, and the
other top-level keys Kong accepts (ignored). Every problem becomes one ``ConfigError`` that
names the file, the entity and the field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import yaml

from .config import (
    Consumer,
    HeaderMatch,
    LambdaPluginConfig,
    LambdaRouteConfig,
    Plugin,
    Route,
    Service,
)
from .errors import ConfigError
from .lambda_schema import parse_lambda_config
from .validators import (
    FieldError,
    compile_route_regex,
    split_url,
    validate_header_name,
    validate_host,
    validate_name,
    validate_route_host,
    validate_route_path,
    validate_service_path,
    validate_sni,
    validate_url,
    validate_uuid,
)
from .vault import EnvVault

_T = TypeVar("_T")

FORMAT_VERSIONS = ("1.1", "2.1", "3.0")
PROTOCOLS = ("http", "https", "tcp", "tls", "tls_passthrough", "udp", "grpc", "grpcs", "ws", "wss")
HTTP_PROTOCOLS = ("grpc", "grpcs", "http", "https")
_PROTOCOL_SUBSETS = (
    ("http", "https"),
    ("tcp", "tls", "udp"),
    ("tls_passthrough",),
    ("grpc", "grpcs"),
    ("ws", "wss"),
)
_REDIRECT_CODES = (426, 301, 302, 307, 308)
_METHOD = re.compile(r"^[A-Z]+$")

#: top-level keys Kong's declarative format accepts besides the entities read here
_OTHER_TOP_LEVEL = frozenset(
    [
        "_transform",
        "_workspace",
        "_comment",
        "_info",
        "_konnect",
        "_plugin_configs",
        "_ignore",
        "upstreams",
        "targets",
        "certificates",
        "ca_certificates",
        "snis",
        "vaults",
        "parameters",
        "consumer_groups",
        "key_sets",
        "keys",
        "filter_chains",
        "workspaces",
        "licenses",
        "partials",
        "custom_plugins",
        "acls",
        "basicauth_credentials",
        "keyauth_credentials",
        "jwt_secrets",
        "hmacauth_credentials",
        "oauth2_credentials",
        "oauth2_authorization_codes",
        "oauth2_tokens",
        "mtls_auth_credentials",
        "keyauth_enc_credentials",
        "degraphql_routes",
        "graphql_ratelimiting_advanced_cost_decoration",
        "rbac_users",
        "rbac_roles",
        "developers",
        "document_objects",
        "event_hooks",
        "sm_vaults",
    ]
)
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
_CONSUMER_FIELDS = frozenset(
    ["id", "username", "custom_id", "created_at", "updated_at", "tags", "type", "plugins"]
)


# --- small typed readers: raise FieldError with Kong's messages ---------------------------


def _string(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise FieldError(name, "expected a string")
    return value


def _boolean(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise FieldError(name, "expected a boolean")
    return value


def _integer(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FieldError(name, "expected an integer")
    if isinstance(value, float):
        if not value.is_integer():
            raise FieldError(name, "expected an integer")
        return int(value)
    return value


def _between(value: int, low: int, high: int, name: str) -> int:
    if not low <= value <= high:
        raise FieldError(name, f"value should be between {low} and {high}")
    return value


def _array(value: Any, name: str, kind: str = "array") -> list[Any]:
    if not isinstance(value, list):
        raise FieldError(name, f"expected {'a set' if kind == 'set' else 'an array'}")
    return value


def _strings(value: Any, name: str, kind: str = "array") -> tuple[str, ...]:
    items = [_string(v, f"{name}[{i}]") for i, v in enumerate(_array(value, name, kind))]
    if kind == "set":
        items = list(dict.fromkeys(items))
    return tuple(items)


def _mapping(value: Any, name: str) -> Mapping[Any, Any]:
    if not isinstance(value, Mapping):
        raise FieldError(name, "expected a record")
    return value


def _optional(raw: Mapping[Any, Any], key: str) -> Any:
    """A field's value; YAML null and absence both mean "not set"."""
    return raw.get(key)


def _check_fields(raw: Mapping[Any, Any], allowed: frozenset[str]) -> None:
    for key in raw:
        if not isinstance(key, str) or key not in allowed:
            raise FieldError(str(key), "unknown field")


def _check_id(raw: Mapping[Any, Any]) -> str | None:
    return _checked_string(raw, "id", validate_uuid)


def _check_name(raw: Mapping[Any, Any]) -> str | None:
    return _checked_string(raw, "name", validate_name)


def _checked_string(
    raw: Mapping[Any, Any], key: str, validate: Callable[[str], str | None]
) -> str | None:
    value = _optional(raw, key)
    if value is None:
        return None
    error = validate(_string(value, key))
    if error:
        raise FieldError(key, error)
    return str(value)


def _reference(value: Any, name: str) -> str:
    """A foreign key as Kong's declarative format writes it: a name or id, or a record
    ``{name: ...}`` / ``{id: ...}``."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        for key in ("id", "name", "username"):
            if isinstance(value.get(key), str):
                return str(value[key])
    raise FieldError(name, "expected a name or id (a string), or a record with 'name' or 'id'")


# --- intermediate records -------------------------------------------------------------------


@dataclass(slots=True)
class _RouteRecord:
    label: str
    fields: dict[str, Any]
    service: Service | None = None
    service_ref: str | None = None  # top-level route: name or id, resolved later


@dataclass(slots=True)
class _PluginRecord:
    label: str
    name: str
    id: str | None
    enabled: bool
    lambda_config: LambdaPluginConfig | None
    service_ref: str | None = None
    route_ref: str | None = None
    consumer_ref: str | None = None
    consumer_group_ref: str | None = None  # not resolved: consumer groups are not read
    #: the entity it is nested in, set directly instead of by reference
    service: Service | None = None
    route_index: int | None = None
    consumer: Consumer | None = None


@dataclass(slots=True)
class _State:
    file: str
    vaults: dict[str, EnvVault] = field(default_factory=lambda: {"env": EnvVault()})
    services: list[Service] = field(default_factory=list)
    service_labels: dict[int, str] = field(default_factory=dict)
    routes: list[_RouteRecord] = field(default_factory=list)
    plugins: list[_PluginRecord] = field(default_factory=list)
    consumers: list[Consumer] = field(default_factory=list)

    def error(self, message: str, entity: str = "", field_name: str = "") -> ConfigError:
        return ConfigError(message, file=self.file, entity=entity, field=field_name)


def _label(kind: str, raw: Mapping[Any, Any], where: str) -> str:
    for key in ("name", "username", "id", "custom_id"):
        value = raw.get(key)
        if isinstance(value, str) and value:
            return f"{kind} '{value}'"
    return f"{kind} at {where}"


# --- file reading ---------------------------------------------------------------------------


def _read_document(path: str) -> Any:
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise ConfigError(f"cannot read the file: {exc.strerror or exc}", file=path) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"the file is not UTF-8 text ({exc.reason})", file=path) from None
    if path.lower().endswith(".json"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}", file=path
            ) from None
    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = exc.problem or exc.context or "syntax error"
        raise ConfigError(f"invalid YAML{where}: {problem}", file=path) from None
    except (yaml.YAMLError, ValueError, RecursionError) as exc:
        raise ConfigError(f"invalid YAML: {exc}", file=path) from None


def load(path: str) -> LambdaRouteConfig:
    """See ``config.load_config``."""
    try:
        document = _read_document(path)
        return _Loader(_State(path)).load(document)
    except ConfigError:
        raise
    except Exception as exc:  # a loader bug must not take the last good config down
        raise ConfigError(
            f"could not load the file: {type(exc).__name__}: {exc}", file=path
        ) from None


class _Loader:
    def __init__(self, state: _State) -> None:
        self.s = state

    # --- top level ---

    def load(self, document: Any) -> LambdaRouteConfig:
        s = self.s
        if document is None:
            raise s.error("the file is empty: expected a Kong declarative config")
        if not isinstance(document, Mapping):
            raise s.error("expected a mapping of Kong entities at the top level")
        version = document.get("_format_version")
        if version is None:
            raise s.error("required field missing", field_name="_format_version")
        if isinstance(version, float):  # unquoted `_format_version: 3.0` in YAML
            version = str(version)
        if version not in FORMAT_VERSIONS:
            raise s.error(
                "expected one of: " + ", ".join(FORMAT_VERSIONS), field_name="_format_version"
            )
        for key in document:
            if not isinstance(key, str) or not (
                key in ("_format_version", "services", "routes", "plugins", "consumers")
                or key in _OTHER_TOP_LEVEL
            ):
                raise s.error("unknown field", field_name=str(key))
        if "_transform" in document and not isinstance(document["_transform"], bool):
            raise s.error("expected a boolean", field_name="_transform")

        self._read_vaults(document.get("vaults"))
        for key, value in document.items():
            if key == "services":
                self._each(value, "services", self._read_service)
            elif key == "routes":
                self._each(value, "routes", self._read_top_route)
            elif key == "consumers":
                self._each(value, "consumers", self._read_consumer)
            elif key == "plugins":
                self._each(value, "plugins", self._read_top_plugin)
        return self._assemble()

    def _each(self, value: Any, where: str, read: Any) -> None:
        if value is None:
            return
        if not isinstance(value, list):
            raise self.s.error("expected an array", field_name=where)
        for index, item in enumerate(value):
            read(item, f"{where}[{index}]")

    def _read_vaults(self, value: Any) -> None:
        """``vaults`` entities of Kong's env vault add reference prefixes (e.g.
        ``{vault://my-env/NAME}``) with their ``config.prefix``."""
        if value is None:
            return
        if not isinstance(value, list):
            raise self.s.error("expected an array", field_name="vaults")
        for index, raw in enumerate(value):
            label = f"vault at vaults[{index}]"
            if not isinstance(raw, Mapping):
                raise self.s.error("expected a record", entity=label)
            if raw.get("name") != "env":
                continue
            prefix, config = raw.get("prefix"), raw.get("config") or {}
            if not isinstance(prefix, str) or not isinstance(config, Mapping):
                raise self.s.error("expected a string", entity=label, field_name="prefix")
            env_prefix = config.get("prefix")
            if env_prefix is not None and not isinstance(env_prefix, str):
                raise self.s.error("expected a string", entity=label, field_name="config.prefix")
            self.s.vaults[prefix] = EnvVault(env_prefix)

    # --- services ---

    def _read_service(self, raw: Any, where: str) -> None:
        label = _label("service", raw, where) if isinstance(raw, Mapping) else f"service at {where}"
        try:
            if not isinstance(raw, Mapping):
                raise FieldError("", "expected a record")
            service = self._parse_service(raw)
        except FieldError as exc:
            raise self.s.error(exc.message, entity=label, field_name=exc.field) from None
        index = len(self.s.services)
        self.s.services.append(service)
        self.s.service_labels[index] = label
        routes = raw.get("routes")
        if routes is not None:
            if not isinstance(routes, list):
                raise self.s.error("expected an array", entity=label, field_name="routes")
            for r_index, route_raw in enumerate(routes):
                self._read_route(route_raw, f"{where}.routes[{r_index}]", service, label)
        self._read_nested_plugins(raw, where, label, service=service)

    def _parse_service(self, raw: Mapping[Any, Any]) -> Service:
        _check_fields(raw, _SERVICE_FIELDS)
        service_id, name = _check_id(raw), _check_name(raw)
        protocol: str | None = None
        host: str | None = None
        port: int | None = None
        path: str | None = None
        url = _optional(raw, "url")
        if url is not None:
            error = validate_url(_string(url, "url"))
            if error:
                raise FieldError("url", error)
            protocol, host, port, path = split_url(url)
            if port is None:
                port = 443 if protocol == "https" else 80
            protocol = protocol or "http"
        if _optional(raw, "protocol") is not None:
            protocol = _string(raw["protocol"], "protocol")
        protocol = protocol or "http"
        if protocol not in PROTOCOLS:
            raise FieldError("protocol", "expected one of: " + ", ".join(PROTOCOLS))
        if _optional(raw, "host") is not None:
            host = _string(raw["host"], "host")
        if not host:
            raise FieldError("host", "required field missing")
        error = validate_host(host)
        if error:
            raise FieldError("host", error)
        if _optional(raw, "port") is not None:
            port = _between(_integer(raw["port"], "port"), 0, 65535, "port")
        if _optional(raw, "path") is not None:
            path = _string(raw["path"], "path")
        if path is not None:
            error = validate_service_path(path)
            if error:
                raise FieldError("path", error)
            if protocol in ("tcp", "tls", "tls_passthrough", "udp", "grpc", "grpcs"):
                raise FieldError("path", "value must be null")
        if _optional(raw, "retries") is not None:
            _between(_integer(raw["retries"], "retries"), 0, 32767, "retries")
        for timeout in ("connect_timeout", "write_timeout", "read_timeout"):
            if _optional(raw, timeout) is not None:
                _between(_integer(raw[timeout], timeout), 1, 2**31 - 2, timeout)
        if _optional(raw, "tls_verify") is not None:
            _boolean(raw["tls_verify"], "tls_verify")
        enabled = True
        if _optional(raw, "enabled") is not None:
            enabled = _boolean(raw["enabled"], "enabled")
        if _optional(raw, "tags") is not None:
            _strings(raw["tags"], "tags", "set")
        return Service(
            name=name,
            id=service_id,
            protocol=protocol,
            host=host,
            port=80 if port is None else port,
            path=path,
            enabled=enabled,
        )

    # --- routes ---

    def _read_top_route(self, raw: Any, where: str) -> None:
        self._read_route(raw, where, None, None)

    def _read_route(
        self, raw: Any, where: str, service: Service | None, service_label: str | None
    ) -> None:
        label = _label("route", raw, where) if isinstance(raw, Mapping) else f"route at {where}"
        try:
            if not isinstance(raw, Mapping):
                raise FieldError("", "expected a record")
            fields = self._parse_route(raw)
            service_ref = None
            if _optional(raw, "service") is not None:
                if service is not None:
                    raise FieldError(
                        "service", f"must not be set on a route nested in {service_label}"
                    )
                service_ref = _reference(raw["service"], "service")
        except FieldError as exc:
            raise self.s.error(exc.message, entity=label, field_name=exc.field) from None
        index = len(self.s.routes)
        self.s.routes.append(_RouteRecord(label, fields, service, service_ref))
        self._read_nested_plugins(raw, where, label, route_index=index)

    def _parse_route(self, raw: Mapping[Any, Any]) -> dict[str, Any]:
        _check_fields(raw, _ROUTE_FIELDS)
        out: dict[str, Any] = {"id": _check_id(raw), "name": _check_name(raw)}
        protocols: tuple[str, ...] = ("http", "https")
        if _optional(raw, "protocols") is not None:
            protocols = _strings(raw["protocols"], "protocols", "set")
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
        if _optional(raw, "methods") is not None:
            methods = _strings(raw["methods"], "methods", "set")
            for i, method in enumerate(methods):
                if not _METHOD.match(method):
                    raise FieldError(f"methods[{i}]", f"invalid value: {method}")
        hosts: tuple[str, ...] = ()
        if _optional(raw, "hosts") is not None:
            hosts = _strings(raw["hosts"], "hosts")
            for i, host in enumerate(hosts):
                error = validate_route_host(host)
                if error:
                    raise FieldError(f"hosts[{i}]", error)
        paths: tuple[str, ...] = ()
        if _optional(raw, "paths") is not None:
            paths = _strings(raw["paths"], "paths")
            for i, path in enumerate(paths):
                error = validate_route_path(path)
                if error is None and path.startswith("~"):
                    try:
                        compile_route_regex(path[1:])
                    except re.error as exc:
                        error = f"invalid regex: '{path[1:]}' ({exc})"
                if error:
                    raise FieldError(f"paths[{i}]", error)
        headers = self._parse_headers(_optional(raw, "headers"))
        snis: tuple[str, ...] = ()
        if _optional(raw, "snis") is not None:
            snis = _strings(raw["snis"], "snis", "set")
            for i, sni in enumerate(snis):
                error = validate_sni(sni)
                if error:
                    raise FieldError(f"snis[{i}]", error)
        sources = self._parse_endpoints(_optional(raw, "sources"), "sources")
        destinations = self._parse_endpoints(_optional(raw, "destinations"), "destinations")
        if _optional(raw, "tags") is not None:
            _strings(raw["tags"], "tags", "set")

        subschema = protocols[0]
        is_grpc = subschema in ("grpc", "grpcs")
        strip_path = not is_grpc
        if _optional(raw, "strip_path") is not None:
            strip_path = _boolean(raw["strip_path"], "strip_path")
        if _optional(raw, "preserve_host") is not None:
            out["preserve_host"] = _boolean(raw["preserve_host"], "preserve_host")
        for flag in ("request_buffering", "response_buffering"):
            if _optional(raw, flag) is not None:
                _boolean(raw[flag], flag)
        if _optional(raw, "regex_priority") is not None:
            out["regex_priority"] = _integer(raw["regex_priority"], "regex_priority")
        if _optional(raw, "path_handling") is not None:
            value = _string(raw["path_handling"], "path_handling")
            if value not in ("v0", "v1"):
                raise FieldError("path_handling", "expected one of: v0, v1")
            out["path_handling"] = value
        if _optional(raw, "https_redirect_status_code") is not None:
            code = _integer(raw["https_redirect_status_code"], "https_redirect_status_code")
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
                    raise FieldError(
                        name, f"cannot set '{name}' when 'protocols' is 'http' or 'https'"
                    )
            self._at_least_one(
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
                    raise FieldError(
                        name, f"cannot set '{name}' when 'protocols' is 'grpc' or 'grpcs'"
                    )
            self._at_least_one(
                present,
                protocols,
                ("grpcs",),
                ("hosts", "headers", "paths", "snis"),
                ("hosts", "headers", "paths"),
            )
        else:  # stream routes: accepted, never matched by the HTTP router
            for name in ("methods", "hosts", "paths", "headers"):
                if present[name]:
                    raise FieldError(
                        name, f"cannot set '{name}' when 'protocols' is 'tcp' or 'tls'"
                    )
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

    @staticmethod
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

    @staticmethod
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
                error = (
                    "cannot contain 'host' header, which must be specified in the 'hosts' attribute"
                )
            if error:
                raise FieldError(f"headers.{name}", error)
            items = _strings(values, f"headers.{name}")
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

    @staticmethod
    def _parse_endpoints(value: Any, name: str) -> tuple[Any, ...]:
        if value is None:
            return ()
        items = _array(value, name, "set")
        for i, item in enumerate(items):
            where = f"{name}[{i}]"
            if not isinstance(item, Mapping):
                raise FieldError(where, "expected a record")
            _check_fields(item, frozenset(("ip", "port")))
            if item.get("ip") is None and item.get("port") is None:
                raise FieldError(
                    where, "at least one of these fields must be non-empty: 'ip', 'port'"
                )
            if item.get("ip") is not None:
                _string(item["ip"], f"{where}.ip")
            if item.get("port") is not None:
                _between(_integer(item["port"], f"{where}.port"), 0, 65535, f"{where}.port")
        return tuple(items)

    # --- consumers ---

    def _read_consumer(self, raw: Any, where: str) -> None:
        label = (
            _label("consumer", raw, where) if isinstance(raw, Mapping) else f"consumer at {where}"
        )
        try:
            if not isinstance(raw, Mapping):
                raise FieldError("", "expected a record")
            for key, value in raw.items():
                # nested credentials (keyauth_credentials, acls, ...) are arrays; ignored
                if key not in _CONSUMER_FIELDS and not isinstance(value, list):
                    raise FieldError(str(key), "unknown field")
            consumer_id = _check_id(raw)
            username = raw.get("username")
            custom_id = raw.get("custom_id")
            if username is not None:
                _string(username, "username")
            if custom_id is not None:
                _string(custom_id, "custom_id")
            if not username and not custom_id:
                raise FieldError(
                    "", "at least one of these fields must be non-empty: 'custom_id', 'username'"
                )
            if _optional(raw, "tags") is not None:
                _strings(raw["tags"], "tags", "set")
        except FieldError as exc:
            raise self.s.error(exc.message, entity=label, field_name=exc.field) from None
        consumer = Consumer(username=username, id=consumer_id, custom_id=custom_id)
        for other in self.s.consumers:
            if username and other.username == username:
                raise self.s.error(
                    f"duplicate username: another consumer is named '{username}'",
                    entity=label,
                    field_name="username",
                )
            if custom_id and other.custom_id == custom_id:
                raise self.s.error(
                    f"duplicate custom_id: another consumer has custom_id '{custom_id}'",
                    entity=label,
                    field_name="custom_id",
                )
        self.s.consumers.append(consumer)
        self._read_nested_plugins(raw, where, label, consumer=consumer)

    # --- plugins ---

    def _read_top_plugin(self, raw: Any, where: str) -> None:
        self._read_plugin(raw, where, None)

    def _read_nested_plugins(
        self,
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
            raise self.s.error("expected an array", entity=label, field_name="plugins")
        for p_index, plugin_raw in enumerate(plugins):
            self._read_plugin(
                plugin_raw,
                f"{where}.plugins[{p_index}]",
                label,
                service=service,
                route_index=route_index,
                consumer=consumer,
            )

    def _read_plugin(
        self,
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
            _check_fields(raw, _PLUGIN_FIELDS)
            if name is None:
                raise FieldError("name", "required field missing")
            _string(name, "name")
            plugin_id = _check_id(raw)
            enabled = True if raw.get("enabled") is None else _boolean(raw["enabled"], "enabled")
            refs: dict[str, str | None] = {}
            for key, nested in (
                ("service", service),
                ("route", route_index),
                ("consumer", consumer),
            ):
                refs[key] = None
                if raw.get(key) is not None:
                    if nested is not None:
                        raise FieldError(
                            key, f"must not be set on a plugin nested in {parent_label}"
                        )
                    refs[key] = _reference(raw[key], key)
            if raw.get("consumer_group") is not None:  # Kong EE: scoped like a consumer
                refs["consumer_group"] = _reference(raw["consumer_group"], "consumer_group")
            if not parent_label:
                scope = [f"{k} '{v}'" for k, v in refs.items() if v is not None]
                label = f"{base} ({', '.join(scope) or 'global'})"
            protocols = raw.get("protocols")
            if protocols is not None:
                values = _strings(protocols, "protocols", "set")
                allowed = HTTP_PROTOCOLS if name == "aws-lambda" else PROTOCOLS
                for i, protocol in enumerate(values):
                    if protocol not in allowed:
                        raise FieldError(
                            f"protocols[{i}]", "expected one of: " + ", ".join(allowed)
                        )
            if raw.get("tags") is not None:
                _strings(raw["tags"], "tags", "set")
            lambda_config = None
            if name == "aws-lambda":
                lambda_config = parse_lambda_config(raw.get("config"), self.s.vaults)
            elif raw.get("config") is not None:
                _mapping(raw["config"], "config")
        except FieldError as exc:
            raise self.s.error(exc.message, entity=label, field_name=exc.field) from None
        self.s.plugins.append(
            _PluginRecord(
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

    # --- assembly: references, uniqueness, plugin precedence ---

    def _assemble(self) -> LambdaRouteConfig:
        s = self.s
        services_by_key = self._index_services()
        routes_by_key = self._index_routes()
        consumers_by_key = self._index_consumers()

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
        scoped: list[tuple[_PluginRecord, Service | None, int | None, Consumer | None]] = []
        seen: dict[tuple[str, int | None, int | None, int | None], str] = {}
        for plugin in s.plugins:
            service, route_index, consumer = plugin.service, plugin.route_index, plugin.consumer
            if plugin.service_ref is not None:
                service = self._lookup(services_by_key, plugin, "service", plugin.service_ref)
            if plugin.route_ref is not None:
                route_index = self._lookup(routes_by_key, plugin, "route", plugin.route_ref)
            if plugin.consumer_ref is not None:
                consumer = self._lookup(consumers_by_key, plugin, "consumer", plugin.consumer_ref)
            key = (
                plugin.name,
                None
                if service is None
                else next(i for i, x in enumerate(s.services) if x is service),
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
        applicable: list[tuple[int, _PluginRecord, Service | None, int | None]] = []
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
                    route=None if route_index is None else self._route_key(route_index),
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
            routes.append(
                Route(service=service, lambda_plugin=best[1], order=index, **record.fields)
            )
        return LambdaRouteConfig(
            source=s.file,
            routes=tuple(routes),
            services=tuple(s.services),
            consumers=tuple(s.consumers),
            ignored_plugins=tuple(ignored),
            plugins=tuple(lambda_plugins),
            consumer_scoped_plugins=tuple(consumer_scoped),
        )

    def _lookup(self, table: Mapping[str, _T], plugin: _PluginRecord, kind: str, ref: str) -> _T:
        target = table.get(ref)
        if target is None:
            raise self.s.error(
                f"refers to {kind} '{ref}' which does not exist",
                entity=plugin.label,
                field_name=kind,
            )
        return target

    def _route_key(self, index: int) -> str | None:
        fields = self.s.routes[index].fields
        return fields.get("id") or fields.get("name")

    def _index_services(self) -> dict[str, Service]:
        out: dict[str, Service] = {}
        for index, service in enumerate(self.s.services):
            label = self.s.service_labels[index]
            for kind, key in (("name", service.name), ("id", service.id)):
                if key is None:
                    continue
                if key in out and out[key] is not service:
                    raise self.s.error(f"duplicate {kind} '{key}'", entity=label, field_name=kind)
                out[key] = service
        return out

    def _index_routes(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for index, record in enumerate(self.s.routes):
            for kind in ("name", "id"):
                key = record.fields.get(kind)
                if key is None:
                    continue
                if key in out and out[key] != index:
                    raise self.s.error(
                        f"duplicate {kind} '{key}'", entity=record.label, field_name=kind
                    )
                out[key] = index
        return out

    def _index_consumers(self) -> dict[str, Consumer]:
        out: dict[str, Consumer] = {}
        for consumer in self.s.consumers:
            for key in (consumer.id, consumer.username, consumer.custom_id):
                if key is not None:
                    out.setdefault(key, consumer)
        return out

"""Shared pieces of the config loader: typed readers that raise ``FieldError`` with
Kong's messages, the load state, and the records kept until references are resolved."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .config_types import BasicAuthConfig, Consumer, KeyAuthConfig, LambdaPluginConfig, Service
from .errors import ConfigError
from .validators import FieldError, unknown_field, validate_name, validate_uuid
from .vault import EnvVault

PROTOCOLS = ("http", "https", "tcp", "tls", "tls_passthrough", "udp", "grpc", "grpcs", "ws", "wss")
HTTP_PROTOCOLS = ("grpc", "grpcs", "http", "https")

# --- small typed readers: raise FieldError with Kong's messages ---------------------------


def read_string(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise FieldError(name, "expected a string")
    return value


def read_boolean(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise FieldError(name, "expected a boolean")
    return value


def read_integer(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FieldError(name, "expected an integer")
    if isinstance(value, float):
        if not value.is_integer():
            raise FieldError(name, "expected an integer")
        return int(value)
    return value


def check_between(value: int, low: int, high: int, name: str) -> int:
    if not low <= value <= high:
        raise FieldError(name, f"value should be between {low} and {high}")
    return value


def read_array(value: Any, name: str, kind: str = "array") -> list[Any]:
    if not isinstance(value, list):
        raise FieldError(name, f"expected {'a set' if kind == 'set' else 'an array'}")
    return value


def read_strings(value: Any, name: str, kind: str = "array") -> tuple[str, ...]:
    items = [read_string(v, f"{name}[{i}]") for i, v in enumerate(read_array(value, name, kind))]
    if kind == "set":
        items = list(dict.fromkeys(items))
    return tuple(items)


def read_mapping(value: Any, name: str) -> Mapping[Any, Any]:
    if not isinstance(value, Mapping):
        raise FieldError(name, "expected a record")
    return value


def optional(raw: Mapping[Any, Any], key: str) -> Any:
    """A field's value; YAML null and absence both mean "not set"."""
    return raw.get(key)


def check_fields(raw: Mapping[Any, Any], allowed: frozenset[str]) -> None:
    for key in raw:
        if not isinstance(key, str) or key not in allowed:
            raise unknown_field(str(key), str(key), allowed)


def check_id(raw: Mapping[Any, Any]) -> str | None:
    return checked_string(raw, "id", validate_uuid)


def check_name(raw: Mapping[Any, Any]) -> str | None:
    return checked_string(raw, "name", validate_name)


def checked_string(
    raw: Mapping[Any, Any], key: str, validate: Callable[[str], str | None]
) -> str | None:
    value = optional(raw, key)
    if value is None:
        return None
    error = validate(read_string(value, key))
    if error:
        raise FieldError(key, error)
    return str(value)


def read_reference(value: Any, name: str) -> str:
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
class RouteRecord:
    label: str
    fields: dict[str, Any]
    service: Service | None = None
    service_ref: str | None = None  # top-level route: name or id, resolved later


@dataclass(slots=True)
class PluginRecord:
    label: str
    name: str
    id: str | None
    enabled: bool
    lambda_config: LambdaPluginConfig | None
    protocols: tuple[str, ...] = HTTP_PROTOCOLS
    auth_config: KeyAuthConfig | BasicAuthConfig | None = None
    anonymous_ref: str | None = None  # an auth plugin's anonymous consumer, resolved later
    service_ref: str | None = None
    route_ref: str | None = None
    consumer_ref: str | None = None
    consumer_group_ref: str | None = None  # not resolved: consumer groups are not read
    #: the entity it is nested in, set directly instead of by reference
    service: Service | None = None
    route_index: int | None = None
    consumer: Consumer | None = None


@dataclass(slots=True)
class CredentialRecord:
    label: str
    kind: str  # "keyauth_credentials" | "basicauth_credentials"
    #: the key (key-auth) or username (basic-auth)
    identifier: str | None = field(repr=False)
    credential_id: str | None
    password: str | None = field(default=None, repr=False)
    consumer: Consumer | None = None
    consumer_ref: str | None = None


@dataclass(slots=True)
class LoadState:
    file: str
    vaults: dict[str, EnvVault] = field(default_factory=lambda: {"env": EnvVault()})
    services: list[Service] = field(default_factory=list)
    service_labels: dict[int, str] = field(default_factory=dict)
    routes: list[RouteRecord] = field(default_factory=list)
    plugins: list[PluginRecord] = field(default_factory=list)
    consumers: list[Consumer] = field(default_factory=list)
    credentials: list[CredentialRecord] = field(default_factory=list)

    def error(self, message: str, entity: str = "", field_name: str = "") -> ConfigError:
        return ConfigError(message, file=self.file, entity=entity, field=field_name)


def entity_label(kind: str, raw: Mapping[Any, Any], where: str) -> str:
    for key in ("name", "username", "id", "custom_id"):
        value = raw.get(key)
        if isinstance(value, str) and value:
            return f"{kind} '{value}'"
    return f"{kind} at {where}"

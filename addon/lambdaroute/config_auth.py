"""The ``config`` of the ``key-auth`` and ``basic-auth`` plugins (Kong 3.10's
``kong/plugins/{key,basic}-auth/schema.lua``): fields, defaults, types."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from .config_types import BasicAuthConfig, KeyAuthConfig
from .validators import FieldError, unknown_field, validate_header_name

AUTH_PLUGINS = ("key-auth", "basic-auth")

_KEY_AUTH_BOOLEANS = (
    "hide_credentials",
    "key_in_header",
    "key_in_query",
    "key_in_body",
    "run_on_preflight",
)
_KEY_AUTH_FIELDS = frozenset((*_KEY_AUTH_BOOLEANS, "key_names", "anonymous", "realm"))
_BASIC_AUTH_FIELDS = frozenset(("anonymous", "hide_credentials", "realm"))


def parse_auth_config(name: str, raw: Any) -> tuple[KeyAuthConfig | BasicAuthConfig, str | None]:
    """The plugin's config and its ``anonymous`` consumer reference (resolved later)."""
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise FieldError("config", "expected a record")
    allowed = _KEY_AUTH_FIELDS if name == "key-auth" else _BASIC_AUTH_FIELDS
    values: dict[str, Any] = {}
    for key, value in raw.items():
        field = f"config.{key}"
        if key not in allowed:
            raise unknown_field(field, str(key), allowed)
        if value is None:
            continue
        if key in ("anonymous", "realm"):
            if not isinstance(value, str):
                raise FieldError(field, "expected a string")
        elif key == "key_names":
            values[key] = _key_names(value)
            continue
        elif not isinstance(value, bool):
            raise FieldError(field, "expected a boolean")
        values[str(key)] = value
    anonymous = values.pop("anonymous", None) or None
    config: KeyAuthConfig | BasicAuthConfig
    config = KeyAuthConfig() if name == "key-auth" else BasicAuthConfig()
    return replace(config, **values), anonymous


def _key_names(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise FieldError("config.key_names", "expected an array")
    if not value:
        raise FieldError("config.key_names", "length must be at least 1")
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise FieldError(f"config.key_names[{i}]", "expected a string")
        error = validate_header_name(item)
        if error:
            raise FieldError(f"config.key_names[{i}]", error)
    return tuple(value)

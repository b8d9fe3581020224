"""Kong's ``consumers`` entity."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .config_fields import LoadState, check_id, entity_label, optional, read_string, read_strings
from .config_plugins import read_nested_plugins
from .config_types import Consumer
from .validators import FieldError

_CONSUMER_FIELDS = frozenset(
    ["id", "username", "custom_id", "created_at", "updated_at", "tags", "type", "plugins"]
)


# --- consumers ---


def read_consumer(state: LoadState, raw: Any, where: str) -> None:
    label = (
        entity_label("consumer", raw, where) if isinstance(raw, Mapping) else f"consumer at {where}"
    )
    try:
        if not isinstance(raw, Mapping):
            raise FieldError("", "expected a record")
        for key, value in raw.items():
            # nested credentials (keyauth_credentials, acls, ...) are arrays; ignored
            if key not in _CONSUMER_FIELDS and not isinstance(value, list):
                raise FieldError(str(key), "unknown field")
        consumer_id = check_id(raw)
        username = raw.get("username")
        custom_id = raw.get("custom_id")
        if username is not None:
            read_string(username, "username")
        if custom_id is not None:
            read_string(custom_id, "custom_id")
        if not username and not custom_id:
            raise FieldError(
                "", "at least one of these fields must be non-empty: 'custom_id', 'username'"
            )
        if optional(raw, "tags") is not None:
            read_strings(raw["tags"], "tags", "set")
    except FieldError as exc:
        raise state.error(exc.message, entity=label, field_name=exc.field) from None
    consumer = Consumer(username=username, id=consumer_id, custom_id=custom_id)
    for other in state.consumers:
        if username and other.username == username:
            raise state.error(
                f"duplicate username: another consumer is named '{username}'",
                entity=label,
                field_name="username",
            )
        if custom_id and other.custom_id == custom_id:
            raise state.error(
                f"duplicate custom_id: another consumer has custom_id '{custom_id}'",
                entity=label,
                field_name="custom_id",
            )
    state.consumers.append(consumer)
    read_nested_plugins(state, raw, where, label, consumer=consumer)

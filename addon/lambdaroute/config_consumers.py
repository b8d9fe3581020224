"""Kong's ``consumers`` entity and the credentials key-auth and basic-auth identify them
by (``keyauth_credentials``, ``basicauth_credentials``: nested or top-level)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .config_fields import (
    CredentialRecord,
    LoadState,
    check_id,
    entity_label,
    optional,
    read_reference,
    read_string,
    read_strings,
)
from .config_plugins import read_nested_plugins
from .config_types import Consumer
from .validators import FieldError, unknown_field
from .vault import VaultError, is_reference, resolve

_CONSUMER_FIELDS = frozenset(
    [
        "id",
        "username",
        "custom_id",
        "created_at",
        "updated_at",
        "tags",
        "type",
        "plugins",
        "keyauth_credentials",
        "basicauth_credentials",
    ]
)

_CREDENTIAL_FIELDS = {
    "keyauth_credentials": frozenset(
        ("id", "created_at", "consumer", "key", "tags", "ttl", "updated_at")
    ),
    "basicauth_credentials": frozenset(
        ("id", "created_at", "consumer", "username", "password", "tags", "updated_at")
    ),
}


def read_consumer(state: LoadState, raw: Any, where: str) -> None:
    label = (
        entity_label("consumer", raw, where) if isinstance(raw, Mapping) else f"consumer at {where}"
    )
    try:
        if not isinstance(raw, Mapping):
            raise FieldError("", "expected a record")
        for key, value in raw.items():
            # other nested credentials (acls, jwt_secrets, ...) are arrays; ignored
            if key not in _CONSUMER_FIELDS and not isinstance(value, list):
                raise unknown_field(str(key), str(key), _CONSUMER_FIELDS)
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
        if consumer_id and other.id == consumer_id:
            raise state.error(
                f"duplicate id '{consumer_id}': another consumer has the same id",
                entity=label,
                field_name="id",
            )
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
    for kind in _CREDENTIAL_FIELDS:
        items = raw.get(kind)
        if items is None:
            continue
        if not isinstance(items, list):
            raise state.error("expected an array", entity=label, field_name=kind)
        for index, item in enumerate(items):
            read_credential(kind, consumer, state, item, f"{where}.{kind}[{index}]")


def read_credential(
    kind: str, consumer: Consumer | None, state: LoadState, raw: Any, where: str
) -> None:
    """One credential: nested in ``consumer``, or top-level with a ``consumer`` reference.
    Its key or password never appears in an error message."""
    singular = "keyauth_credential" if kind == "keyauth_credentials" else "basicauth_credential"
    label = f"{singular} at {where}"
    try:
        if not isinstance(raw, Mapping):
            raise FieldError("", "expected a record")
        allowed = _CREDENTIAL_FIELDS[kind]
        for key in raw:
            if key not in allowed:
                raise unknown_field(str(key), str(key), allowed)
        credential_id = check_id(raw)
        consumer_ref = None
        if raw.get("consumer") is not None:
            if consumer is not None:
                raise FieldError("consumer", "must not be set on a nested credential")
            consumer_ref = read_reference(raw["consumer"], "consumer")
        elif consumer is None:
            raise FieldError("consumer", "required field missing")
        password = None
        if kind == "keyauth_credentials":
            identifier = raw.get("key")  # Kong generates a key when none is given
            if identifier is not None:
                identifier = read_string(identifier, "key")
                if is_reference(identifier):
                    try:
                        identifier = resolve(identifier, state.vaults)
                    except VaultError as exc:
                        raise FieldError("key", str(exc)) from None
        else:
            for key in ("username", "password"):
                if raw.get(key) is None:
                    raise FieldError(key, "required field missing")
            identifier = read_string(raw["username"], "username")
            label = f"{singular} '{identifier}' ({where})"
            password = read_string(raw["password"], "password")
        if raw.get("tags") is not None:
            read_strings(raw["tags"], "tags", "set")
    except FieldError as exc:
        raise state.error(exc.message, entity=label, field_name=exc.field) from None
    state.credentials.append(
        CredentialRecord(
            label=label,
            kind=kind,
            identifier=identifier,
            credential_id=credential_id,
            password=password,
            consumer=consumer,
            consumer_ref=consumer_ref,
        )
    )

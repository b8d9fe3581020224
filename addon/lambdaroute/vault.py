"""Kong vault references (``{vault://env/NAME}``) for referenceable plugin fields.

Only Kong's ``env`` vault is supported, as Kong implements it (``kong/vaults/env``):
the resource name has ``-`` replaced by ``_``, the vault's ``prefix`` (from a ``vaults``
entity's ``config.prefix`` or a ``?prefix=`` query argument) is put in front, and the whole
is upper-cased. ``{vault://env/NAME/KEY}`` reads the variable as a JSON object and takes
its ``KEY``. References are resolved once, at load time.

Error messages name the reference and the variable, never the value.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote

_SCHEME = "{vault://"


class VaultError(Exception):
    """A reference is malformed or cannot be resolved (the message holds no secret)."""


@dataclass(frozen=True, slots=True)
class EnvVault:
    """An ``env`` vault reachable under a reference prefix (``env`` or a ``vaults`` entity)."""

    prefix: str | None = None  # the vault's config.prefix, put before the variable name


def is_reference(value: str) -> bool:
    """Kong's ``is_reference``: the whole value is ``{vault://...}``."""
    return value.startswith(_SCHEME) and value.endswith("}") and len(value) > len(_SCHEME) + 1


def resolve(
    reference: str,
    vaults: Mapping[str, EnvVault],
    environ: Mapping[str, str] | None = None,
) -> str:
    """The secret a reference points at. ``vaults`` maps reference prefixes to env vaults."""
    env = os.environ if environ is None else environ
    body = reference[len(_SCHEME) : -1]
    body, _, query = body.partition("?")
    body = body.partition("#")[0]  # a version suffix; the env vault has no versions to pick
    vault_name, _, resource_path = body.partition("/")
    if not vault_name or not resource_path:
        raise VaultError(f"invalid reference {reference} (expected {{vault://env/NAME}})")
    vault = vaults.get(vault_name)
    if vault is None:
        raise VaultError(
            f"could not resolve reference {reference} (vault '{vault_name}' is not an env "
            "vault: only Kong's env vault is supported)"
        )
    parts = resource_path.split("/")
    key: str | None = None
    if len(parts) > 1:
        resource = unquote("/".join(parts[:-1]))
        key = unquote(parts[-1]) or None
    else:
        resource = unquote(parts[0])
    prefix = vault.prefix
    query_prefix = parse_qs(query).get("prefix")
    if query_prefix:
        prefix = query_prefix[0]
    variable = ((prefix or "") + resource.replace("-", "_")).upper()
    value = env.get(variable)
    if value is None:
        raise VaultError(
            f"could not resolve reference {reference} (environment variable {variable} is not set)"
        )
    if key is None:
        return value
    try:
        document = json.loads(value)
    except ValueError:
        raise VaultError(
            f"could not resolve reference {reference} (environment variable {variable} "
            "is not a JSON object)"
        ) from None
    if not isinstance(document, dict):
        raise VaultError(
            f"could not resolve reference {reference} (environment variable {variable} "
            "is not a JSON object)"
        )
    secret = document.get(key)
    if not isinstance(secret, str):
        raise VaultError(
            f"could not resolve reference {reference} (key '{key}' is not a string in "
            f"environment variable {variable})"
        )
    return secret

"""Load a Kong declarative config file into ``config_types`` dataclasses, with Kong's rules.

Entities and checks follow Kong 3.x (``kong/db/schema/entities/*.lua``, the routes
subschemas and the declarative format): services with nested routes and plugins, top-level
routes and plugins referring to services/routes/consumers by name or id, consumers, and the
other top-level keys Kong accepts (ignored). One module per entity (``config_services``,
``config_routes``, ``config_plugins``, ``config_consumers``), then ``config_assembly``
resolves references. Every problem becomes one ``ConfigError`` that names the file, the
entity and the field.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import yaml

from .config_assembly import assemble
from .config_consumers import read_consumer, read_credential
from .config_fields import LoadState
from .config_plugins import read_top_plugin
from .config_routes import read_top_route
from .config_services import read_service
from .config_types import LambdaRouteConfig
from .errors import ConfigError
from .validators import did_you_mean
from .vault import EnvVault

FORMAT_VERSIONS = ("1.1", "2.1", "3.0")

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


# --- file reading ---------------------------------------------------------------------------
_READ_TOP_LEVEL = (
    "_format_version",
    "services",
    "routes",
    "plugins",
    "consumers",
    "keyauth_credentials",
    "basicauth_credentials",
)
_TOP_LEVEL_ENTITIES = frozenset(_READ_TOP_LEVEL) | _OTHER_TOP_LEVEL


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
        return _load_document(LoadState(path), document)
    except ConfigError:
        raise
    except Exception as exc:  # a loader bug must not take the last good config down
        raise ConfigError(
            f"could not load the file: {type(exc).__name__}: {exc}", file=path
        ) from None


# --- top level ---


def _load_document(state: LoadState, document: Any) -> LambdaRouteConfig:
    s = state
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
        if not isinstance(key, str) or key not in _TOP_LEVEL_ENTITIES:
            raise s.error(
                "unknown field" + did_you_mean(str(key), _TOP_LEVEL_ENTITIES),
                field_name=str(key),
            )
    if "_transform" in document and not isinstance(document["_transform"], bool):
        raise s.error("expected a boolean", field_name="_transform")

    _read_vaults(state, document.get("vaults"))
    for key, value in document.items():
        if key == "services":
            _each(state, value, "services", read_service)
        elif key == "routes":
            _each(state, value, "routes", read_top_route)
        elif key == "consumers":
            _each(state, value, "consumers", read_consumer)
        elif key == "plugins":
            _each(state, value, "plugins", read_top_plugin)
        elif key in ("keyauth_credentials", "basicauth_credentials"):
            _each(state, value, key, partial(read_credential, key, None))
    return assemble(state)


def _each(
    state: LoadState, value: Any, where: str, read: Callable[[LoadState, Any, str], None]
) -> None:
    if value is None:
        return
    if not isinstance(value, list):
        raise state.error("expected an array", field_name=where)
    for index, item in enumerate(value):
        read(state, item, f"{where}[{index}]")


def _read_vaults(state: LoadState, value: Any) -> None:
    """``vaults`` entities of Kong's env vault add reference prefixes (e.g.
    ``{vault://my-env/NAME}``) with their ``config.prefix``."""
    if value is None:
        return
    if not isinstance(value, list):
        raise state.error("expected an array", field_name="vaults")
    for index, raw in enumerate(value):
        label = f"vault at vaults[{index}]"
        if not isinstance(raw, Mapping):
            raise state.error("expected a record", entity=label)
        if raw.get("name") != "env":
            continue
        prefix, config = raw.get("prefix"), raw.get("config") or {}
        if not isinstance(prefix, str) or not isinstance(config, Mapping):
            raise state.error("expected a string", entity=label, field_name="prefix")
        env_prefix = config.get("prefix")
        if env_prefix is not None and not isinstance(env_prefix, str):
            raise state.error("expected a string", entity=label, field_name="config.prefix")
        state.vaults[prefix] = EnvVault(env_prefix)

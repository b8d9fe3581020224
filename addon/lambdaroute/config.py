"""Kong declarative config -> typed, validated entities: the public entry point.

The dataclasses live in ``config_types`` (re-exported here, the agreed interface); the
loading and validation in ``config_loader`` and its per-entity modules, and the plugin's
own schema in ``lambda_schema``. Imports go one way: this module -> loader -> types.
"""

from __future__ import annotations

from .config_loader import load
from .config_types import (
    Consumer,
    HeaderMatch,
    InvocationType,
    LambdaPluginConfig,
    LambdaRouteConfig,
    LogType,
    PayloadVersion,
    Plugin,
    Route,
    Service,
)
from .errors import ConfigError

__all__ = [
    "ConfigError",
    "Consumer",
    "HeaderMatch",
    "InvocationType",
    "LambdaPluginConfig",
    "LambdaRouteConfig",
    "LogType",
    "PayloadVersion",
    "Plugin",
    "Route",
    "Service",
    "load_config",
]


def load_config(path: str) -> LambdaRouteConfig:
    """Read, parse and validate a Kong declarative config file (YAML or JSON).

    Raises ConfigError (one clear message naming file, entity and field) on any problem,
    and never anything else.
    """
    return load(path)

"""API Gateway v1 (REST, payload 1.0), v2 (HTTP API, payload 2.0) and ALB target events.

SKELETON: interface agreed; implementation by the API Gateway helper.
"""

from __future__ import annotations

from typing import Any

from .config import LambdaPluginConfig
from .snapshot import IncomingRequest


def build_event(plugin: LambdaPluginConfig, request: IncomingRequest) -> dict[str, Any]:
    """The event for the plugin's mode: ALB if alb_target_compatible, else API Gateway
    v1 or v2 per awsgateway_compatible_payload_version."""
    raise NotImplementedError

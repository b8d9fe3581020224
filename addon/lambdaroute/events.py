"""Building the Invoke payload from the request (Kong's payload modes).

SKELETON: interface agreed; implementation by the events helper.
"""

from __future__ import annotations

from .config import LambdaPluginConfig
from .snapshot import IncomingRequest


def build_payload(plugin: LambdaPluginConfig, request: IncomingRequest) -> bytes:
    """The JSON payload bytes for the Invoke call.

    awsgateway_compatible / alb_target_compatible -> apigateway.build_event(...);
    any forward_request_* flag -> forward mode; else query merged with parsed body.
    """
    raise NotImplementedError

"""Reading a function's return value as an HTTP response (is_proxy_integration).

SKELETON: interface agreed; implementation by the API Gateway helper.
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import LambdaPluginConfig


@dataclass(frozen=True, slots=True)
class ProxyResponse:
    status: int
    headers: tuple[tuple[str, str], ...]  # repeats kept (multiValueHeaders, cookies)
    body: bytes


def parse_proxy_response(plugin: LambdaPluginConfig, body: bytes) -> ProxyResponse:
    """Parse the function's return value in the format the plugin's event mode implies:
    API Gateway v1 (Kong's rules), v2, or ALB. Raises BadLambdaResponseError with a
    message that says what is wrong (Kong's texts where Kong has one)."""
    raise NotImplementedError

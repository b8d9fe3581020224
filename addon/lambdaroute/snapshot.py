"""A plain, mitmproxy-free view of the request a route matched.

Event building works on this, so that it can be tested without flows and so that the
flow is read once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mitmproxy.http import HTTPFlow


@dataclass(frozen=True, slots=True)
class RouteContext:
    """What the router knows about the match, needed by API Gateway events."""

    route_name: str | None = None
    #: the matched route path as configured ("/plain" or "~/site/(?<slug>[^/]+)$"), if any
    matched_path: str | None = None
    #: named regex captures of the matched path (numeric captures are not included)
    path_captures: dict[str, str] = field(default_factory=dict)
    #: Kong's upstream path: strip_path and service.path applied, percent-encoded, no query
    upstream_path: str = "/"


@dataclass(frozen=True, slots=True)
class IncomingRequest:
    method: str
    scheme: str  # "http" or "https", as the client spoke to the proxy
    host: str  # lower-case, no port: the client's Host / :authority
    port: int
    raw_path: str  # as sent, percent-encoded, without the query string
    raw_query: str  # the text after "?", as sent ("" when none)
    http_version: str  # "HTTP/1.1", "HTTP/2.0", ...
    headers: tuple[tuple[str, str], ...]  # in order, names as sent (repeats kept)
    body: bytes
    #: the body exceeded lambda_body_buffer_size (Kong: "buffered to disk")
    body_too_large: bool
    client_ip: str
    received_at: float  # epoch seconds
    request_id: str  # our request id, also sent back to the client in error bodies
    route: RouteContext = field(default_factory=RouteContext)


def snapshot_from_flow(
    flow: HTTPFlow,
    route: RouteContext,
    *,
    scheme: str,
    host: str,
    port: int,
    request_id: str,
    body_buffer_size: int,
    body: bytes | None = None,
    body_too_large: bool = False,
) -> IncomingRequest:
    """Read everything event building needs from the flow, once.

    ``scheme``, ``host`` and ``port`` are what the client asked for, as the router saw
    them. The body is the raw body as sent (no Content-Encoding decoding: Kong and API
    Gateway see the bytes on the wire too): the flow's, or ``body`` when the intake
    endpoint read it (``body_too_large``: it was dropped or is over the buffer size).
    """
    req = flow.request
    raw_path, _, raw_query = req.path.partition("?")
    if body is None:
        body = req.raw_content or b""
    peer = flow.client_conn.peername
    return IncomingRequest(
        method=req.method,
        scheme=scheme,
        host=host,
        port=port,
        raw_path=raw_path or "/",
        raw_query=raw_query,
        http_version=req.http_version,
        headers=tuple(req.headers.items(multi=True)),
        body=body,
        body_too_large=body_too_large or len(body) > body_buffer_size,
        client_ip=peer[0] if peer else "127.0.0.1",
        received_at=req.timestamp_start,
        request_id=request_id,
        route=route,
    )

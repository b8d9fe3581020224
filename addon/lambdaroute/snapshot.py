"""A plain, mitmproxy-free view of the request a route matched.

Event building works on this, so that it can be tested without flows and so that the
flow is read once.
"""

from __future__ import annotations

from dataclasses import dataclass, field


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

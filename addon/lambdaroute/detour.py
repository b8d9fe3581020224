"""Pointing a routed flow at the addon's intake endpoint, and back.

A routed flow is answered in-process (its body buffered by mitmproxy, as any flow's) only
when mitmproxy can never decide to stream it: a known Content-Length that is within the
addon's bounds and within ``stream_large_bodies``. Any other routed flow (a larger body, a
chunked one, an HTTP/2 or HTTP/3 request without Content-Length) is sent to the intake
endpoint instead, with ``request.stream`` on, so that mitmproxy streams its body there and
never to the upstream.
"""

from __future__ import annotations

from dataclasses import dataclass

from mitmproxy import connection, http

from .intake import TOKEN_HEADER


@dataclass(frozen=True, slots=True)
class Origin:
    """Where the flow's request was going, restored once the endpoint has it."""

    scheme: bytes
    host: str
    port: int
    #: we added ``Transfer-Encoding: chunked`` so that mitmproxy frames a body of unknown
    #: size on its HTTP/1 connection to the endpoint (an HTTP/2 or 3 request without
    #: Content-Length would otherwise be sent unframed)
    added_chunked: bool


def known_body_size(request: http.Request) -> int | None:
    """The body size the request announces, or None when it is not known in advance.

    One pass over the raw header fields: ``Headers.get`` builds a list per lookup, which
    cost more than the rest of the routing decision on every routed flow."""
    length: bytes | None = None
    for name, value in request.headers.fields:
        if len(name) == 17 and name.lower() == b"transfer-encoding":
            if b"chunked" in value.lower():
                return None
        elif len(name) == 14 and name.lower() == b"content-length":
            length = value
    if length is None:
        # HTTP/1 without either header has no body; HTTP/2 and 3 may send one anyway
        return None if request.is_http2 or request.is_http3 else 0
    try:
        return int(length)
    except ValueError:
        return None


def point_at_intake(flow: http.HTTPFlow, port: int, token: str) -> Origin:
    """Send the flow's request (streamed) to the intake endpoint on 127.0.0.1:``port``.

    The request's host/port/scheme say where mitmproxy connects; a fresh ``server_conn``
    without ``via`` makes it connect directly, also in upstream mode (mitmproxy takes the
    upstream proxy from ``flow.server_conn.via``), and leaves the client connection's own
    server object (shared by its other streams) alone.
    """
    request = flow.request
    added_chunked = known_body_size(request) is None and "transfer-encoding" not in request.headers
    origin = Origin(request.data.scheme, request.data.host, request.data.port, added_chunked)
    if added_chunked:
        request.headers["transfer-encoding"] = "chunked"
    request.data.scheme = b"http"
    request.data.host = "127.0.0.1"
    request.data.port = port
    request.headers[TOKEN_HEADER] = token
    flow.server_conn = connection.Server(address=("127.0.0.1", port))
    request.stream = True
    return origin


def restore_origin(flow: http.HTTPFlow, origin: Origin) -> None:
    """Show the request as the client sent it again (mitmproxy has sent its head)."""
    request = flow.request
    request.data.scheme = origin.scheme
    request.data.host = origin.host
    request.data.port = origin.port
    request.headers.pop(TOKEN_HEADER, None)


def drop_added_framing(flow: http.HTTPFlow, origin: Origin) -> None:
    """Remove the Transfer-Encoding we added, once the whole body has been sent (mitmproxy
    reads the header for every chunk it frames)."""
    if origin.added_chunked:
        flow.request.headers.pop("transfer-encoding", None)

"""The mitmproxy side of a routed flow: the client's authority, the responses built for it
(Kong's https-only answer, a shaped Lambda answer), and the labels the log uses."""

from __future__ import annotations

import functools
import time

from mitmproxy import http
from mitmproxy.net.http import status_codes, url

from .responses import ShapedResponse


def to_response(shaped: ShapedResponse, request_method: str) -> http.Response:
    """Build the response directly: ``Response.make`` re-encodes and re-sets headers,
    which costs more than everything else the addon does for a small response; and
    ``http.Response()`` type-checks every field of its data against its annotation
    (``MessageData.__post_init__``, unless ``python -O``), some 60 us a flow, for fields
    whose types are ours by construction. The result is what ``http.Response()`` builds
    (a test compares their states, so a new field in mitmproxy fails it)."""
    fields = [
        (name.encode("utf-8", "surrogateescape"), value.encode("utf-8", "surrogateescape"))
        for name, value in shaped.headers
    ]
    status = shaped.status
    body = b""
    if status not in (204, 304) and not 100 <= status < 200:
        # Content-Length is what a GET would get, also for HEAD (RFC 9110 9.3.2), whose
        # response has no body whatever the function returned.
        fields.append((b"content-length", str(len(shaped.body)).encode()))
        if request_method != "HEAD":
            body = shaped.body  # sent byte for byte, even when Content-Encoding is set
    reason = shaped.reason or status_codes.RESPONSES.get(status, "")
    now = time.time()
    data = object.__new__(http.ResponseData)
    vars(data).update(
        http_version=b"HTTP/1.1",
        headers=http.Headers(fields),
        content=body,
        trailers=None,
        timestamp_start=now,
        timestamp_end=now,
        status_code=status,
        reason=reason.encode("ascii", "replace"),
    )
    response = object.__new__(http.Response)
    response.data = data
    return response


def https_required(status: int, host: str, path: str) -> http.Response:
    """Kong's answer when an https-only route is asked for over http."""
    if status == 426:
        return http.Response.make(
            426,
            b'{"message":"Please use HTTPS protocol"}',
            {
                "Content-Type": "application/json; charset=utf-8",
                "Connection": "Upgrade",
                "Upgrade": "TLS/1.2, HTTP/1.1",
            },
        )
    return http.Response.make(status, b"", {"Location": f"https://{host}{path}"})


def client_authority(request: http.Request, scheme: str) -> tuple[str, int]:
    """The host and port the client asked for (Host header / :authority, else the target)."""
    authority = request.host_header
    if authority:
        host, port = parse_authority(authority)
        return host, port or (443 if scheme == "https" else 80)
    return request.host.lower(), request.port


@functools.lru_cache(maxsize=1024)
def parse_authority(authority: str) -> tuple[str, int | None]:
    """Host (lower case) and port of a Host header: cached, since clients send the same few
    and mitmproxy's parser (regex, host validation) cost more than the route match."""
    try:
        host, port = url.parse_authority(authority, check=False)
    except ValueError:
        host, port = authority, None
    return host.lower(), port


def restore_reverse_host_header(flow: http.HTTPFlow) -> None:
    """Do what mitmproxy does in reverse mode without keep_host_header."""
    address = flow.server_conn.address
    if address is None:
        return
    scheme = "https" if flow.server_conn.tls else "http"
    flow.request.host_header = url.hostport(scheme, address[0], address[1])


def flow_label(flow: http.HTTPFlow) -> str:
    return f"{flow.request.method} {flow.request.pretty_url}"

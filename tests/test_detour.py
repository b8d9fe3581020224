"""The routing decision's body-size reading (``known_body_size``)."""

from __future__ import annotations

import pytest
from mitmproxy.test import tutils

from lambdaroute.detour import known_body_size


@pytest.mark.parametrize(
    ("headers", "http_version", "size"),
    [
        ({"Content-Length": "12"}, "HTTP/1.1", 12),
        ({"content-length": "0"}, "HTTP/1.1", 0),
        ({}, "HTTP/1.1", 0),  # HTTP/1 without framing headers has no body
        ({}, "HTTP/2.0", None),  # HTTP/2 may send a body without Content-Length
        ({"Content-Length": "5"}, "HTTP/2.0", 5),
        ({"Transfer-Encoding": "chunked"}, "HTTP/1.1", None),
        ({"TRANSFER-ENCODING": "gzip, Chunked", "Content-Length": "3"}, "HTTP/1.1", None),
        ({"Content-Length": "3", "Transfer-Encoding": "chunked"}, "HTTP/1.1", None),
        ({"Content-Length": "twelve"}, "HTTP/1.1", None),
        ({"X-Content-Length": "7"}, "HTTP/1.1", 0),
    ],
)
def test_known_body_size(headers: dict[str, str], http_version: str, size: int | None) -> None:
    request = tutils.treq(http_version=http_version.encode())
    request.headers.clear()
    for name, value in headers.items():
        request.headers.add(name, value)
    assert known_body_size(request) == size

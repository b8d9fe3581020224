"""The ``HttpResponseStream`` prelude: how a streamed answer sets its HTTP status and headers.

A Node.js handler's ``awslambda.HttpResponseStream.from(stream, {statusCode, headers,
cookies})`` writes that object as JSON, then 8 NUL bytes, then the body, and sets the
stream's content type to ``application/vnd.awslambda.http-integration-response``. A
Function URL reads the status, the headers and the cookies (one ``Set-Cookie`` each) from
it; without it the answer is 200 with the stream's content type
(``application/octet-stream`` unless the handler chose another).

Which streams carry a prelude: with the integration content type, it is required (a
missing or invalid one is an error); with another content type, there is none; with no
usable content type (a local server that sends only the event-stream type), a stream that
starts with ``{`` and has the 8 NULs within ``MAX_PRELUDE_BYTES`` holding a JSON object
has one, any other stream is all body.

The parser is incremental (the prelude may arrive split over chunks) and holds at most
``MAX_PRELUDE_BYTES``. Problems raise ``BadLambdaResponseError`` (502 before the first
byte) with the same messages as the buffered v2 reader; its header rules are reused.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..errors import BadLambdaResponseError
from ..proxy_integration import PREFIX, header_name, header_value, status_code, typed_field

HTTP_INTEGRATION_TYPE = "application/vnd.awslambda.http-integration-response"
DEFAULT_CONTENT_TYPE = "application/octet-stream"
#: bound on the prelude (JSON and separator)
MAX_PRELUDE_BYTES = 64 * 1024
SEPARATOR = b"\x00" * 8
_NOT_A_CONTENT_TYPE = frozenset({"", "application/vnd.amazon.eventstream"})


@dataclass(frozen=True, slots=True)
class StreamHead:
    status: int
    headers: tuple[tuple[str, str], ...]  # repeats kept (one set-cookie per cookie)
    from_prelude: bool


class PreludeParser:
    """Feed the stream's chunks; ``head`` is set once the status and headers are known,
    and ``feed`` returns the body bytes from then on."""

    def __init__(
        self, stream_content_type: str | None, *, max_prelude_bytes: int = MAX_PRELUDE_BYTES
    ) -> None:
        media_type = (stream_content_type or "").split(";", 1)[0].strip().lower()
        self._required = media_type == HTTP_INTEGRATION_TYPE
        self._max = max_prelude_bytes
        self._buffer = bytearray()
        self.head: StreamHead | None = None
        if not self._required and media_type not in _NOT_A_CONTENT_TYPE:
            self.head = _plain(stream_content_type or DEFAULT_CONTENT_TYPE)

    def feed(self, chunk: bytes) -> bytes:
        if self.head is not None:
            return chunk
        if not self._buffer and chunk and not self._required and chunk[:1] != b"{":
            self.head = _plain(DEFAULT_CONTENT_TYPE)
            return chunk
        start = max(len(self._buffer) - len(SEPARATOR) + 1, 0)
        self._buffer += chunk
        end = self._buffer.find(SEPARATOR, start)
        if end < 0:
            if len(self._buffer) <= self._max:
                return b""
            if self._required:
                raise _bad(f"no HttpResponseStream prelude within the first {self._max} bytes")
            return self._no_prelude()
        head = _parse(bytes(self._buffer[:end]), required=self._required)
        if head is None:
            return self._no_prelude()
        self.head = head
        rest = bytes(self._buffer[end + len(SEPARATOR) :])
        self._buffer = bytearray()
        return rest

    def finish(self) -> bytes:
        """At the stream's end: settles the head if it is still open; returns what was
        held back as body."""
        if self.head is not None:
            return b""
        if self._required:
            raise _bad("the stream ended before the end of its HttpResponseStream prelude")
        return self._no_prelude()

    def _no_prelude(self) -> bytes:
        self.head = _plain(DEFAULT_CONTENT_TYPE)
        body = bytes(self._buffer)
        self._buffer = bytearray()
        return body


def _plain(content_type: str) -> StreamHead:
    return StreamHead(200, (("content-type", content_type),), from_prelude=False)


def _parse(text: bytes, *, required: bool) -> StreamHead | None:
    """The head a prelude gives; None when sniffing and ``text`` is no JSON object."""
    try:
        prelude: Any = json.loads(text)
    except (ValueError, RecursionError) as exc:
        if not required:
            return None
        raise _bad(f"the HttpResponseStream prelude is not valid JSON: {exc}") from None
    if not isinstance(prelude, dict):
        if not required:
            return None
        raise _bad("the HttpResponseStream prelude is not a JSON object")
    status = status_code(prelude) if prelude.get("statusCode") is not None else 200
    headers = typed_field(prelude, "headers", dict, "headers must be a table") or {}
    cookies = typed_field(prelude, "cookies", list, "cookies must be an array of strings") or []
    out = [(header_name(name), header_value(name, value)) for name, value in headers.items()]
    for cookie in cookies:
        if not isinstance(cookie, str):
            raise _bad("cookies must be an array of strings")
        out.append(("set-cookie", header_value("set-cookie", cookie)))
    if not any(name.lower() == "content-type" for name, _ in out):
        out.append(("content-type", DEFAULT_CONTENT_TYPE))
    return StreamHead(status, tuple(out), from_prelude=True)


def _bad(problem: str) -> BadLambdaResponseError:
    return BadLambdaResponseError(PREFIX + problem)

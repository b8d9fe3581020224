"""The HttpResponseStream prelude parser: split anywhere, bounded, clear errors."""

from __future__ import annotations

import json

import pytest

from lambdaroute.errors import BadLambdaResponseError
from lambdaroute.streaming.prelude import (
    HTTP_INTEGRATION_TYPE,
    MAX_PRELUDE_BYTES,
    PreludeParser,
    StreamHead,
)

PRELUDE = {
    "statusCode": 201,
    "headers": {"Content-Type": "text/event-stream", "X-Count": 3},
    "cookies": ["a=1; Path=/", "b=2"],
}
STREAM = json.dumps(PRELUDE).encode() + b"\x00" * 8 + b"data: one\n\ndata: two\n\n"
HEAD = StreamHead(
    201,
    (
        ("Content-Type", "text/event-stream"),
        ("X-Count", "3"),
        ("set-cookie", "a=1; Path=/"),
        ("set-cookie", "b=2"),
    ),
    from_prelude=True,
)


def run(parser: PreludeParser, pieces: list[bytes]) -> bytes:
    body = b"".join(parser.feed(piece) for piece in pieces)
    return body + parser.finish()


@pytest.mark.parametrize(
    "content_type", [HTTP_INTEGRATION_TYPE, None, "application/vnd.amazon.eventstream"]
)
@pytest.mark.parametrize("size", [1, 3, 7, 8, 9, 64, len(STREAM)])
def test_prelude_split_anywhere(content_type: str | None, size: int) -> None:
    parser = PreludeParser(content_type)
    pieces = [STREAM[i : i + size] for i in range(0, len(STREAM), size)]
    assert run(parser, pieces) == b"data: one\n\ndata: two\n\n"
    assert parser.head == HEAD


def test_head_is_known_as_soon_as_the_separator_arrives() -> None:
    parser = PreludeParser(HTTP_INTEGRATION_TYPE)
    cut = STREAM.index(b"\x00" * 8) + 8
    assert parser.feed(STREAM[: cut - 1]) == b"" and parser.head is None
    assert parser.feed(STREAM[cut - 1 : cut]) == b""
    assert parser.head == HEAD
    assert parser.feed(b"more") == b"more"


def test_no_prelude_is_200_octet_stream() -> None:
    parser = PreludeParser(None)
    assert parser.feed(b"plain text") == b"plain text"
    assert parser.head == StreamHead(
        200, (("content-type", "application/octet-stream"),), from_prelude=False
    )


def test_a_chosen_stream_content_type_is_kept() -> None:
    parser = PreludeParser("text/plain; charset=utf-8")
    assert parser.head is not None
    assert parser.head.headers == (("content-type", "text/plain; charset=utf-8"),)
    assert parser.feed(STREAM) == STREAM  # no prelude expected: all body


def test_sniffed_json_without_separator_is_body() -> None:
    parser = PreludeParser(None)
    assert parser.feed(b'{"token": "a"}\n') == b""  # could still be a prelude
    assert parser.finish() == b'{"token": "a"}\n'
    assert parser.head is not None and not parser.head.from_prelude


def test_sniffing_holds_at_most_the_bound() -> None:
    parser = PreludeParser(None)
    first = b"{" + b"x" * (MAX_PRELUDE_BYTES - 1)
    assert parser.feed(first) == b""
    assert parser.feed(b"yz") == first + b"yz"
    assert parser.head is not None and parser.head.status == 200


def test_required_prelude_over_the_bound_is_an_error() -> None:
    parser = PreludeParser(HTTP_INTEGRATION_TYPE, max_prelude_bytes=100)
    with pytest.raises(BadLambdaResponseError, match="no HttpResponseStream prelude within"):
        parser.feed(b"{" + b" " * 200)


@pytest.mark.parametrize(
    ("prelude", "message"),
    [
        (b"not json", "prelude is not valid JSON"),
        (b"[1]", "prelude is not a JSON object"),
        (b'{"statusCode": 99}', "not an HTTP status"),
        (b'{"headers": "x"}', "headers must be a table"),
        (b'{"cookies": [1]}', "cookies must be an array of strings"),
        (b'{"headers": {"bad name": "v"}}', "invalid header name"),
        (b'{"headers": {"x": "a\\r\\nb"}}', "line break"),
    ],
)
def test_invalid_prelude_is_a_clear_error(prelude: bytes, message: str) -> None:
    parser = PreludeParser(HTTP_INTEGRATION_TYPE)
    with pytest.raises(BadLambdaResponseError, match=message) as failure:
        parser.feed(prelude + b"\x00" * 8 + b"body")
    assert failure.value.status_code == 502


def test_required_prelude_cut_short() -> None:
    parser = PreludeParser(HTTP_INTEGRATION_TYPE)
    parser.feed(b'{"statusCode": 200}')
    with pytest.raises(BadLambdaResponseError, match="ended before the end"):
        parser.finish()


def test_prelude_without_status_or_content_type() -> None:
    parser = PreludeParser(HTTP_INTEGRATION_TYPE)
    assert parser.feed(b'{"headers": {"x-a": "1"}}' + b"\x00" * 8) == b""
    assert parser.head == StreamHead(
        200, (("x-a", "1"), ("content-type", "application/octet-stream")), from_prelude=True
    )


def test_empty_stream_without_prelude() -> None:
    parser = PreludeParser(None)
    assert parser.finish() == b""
    assert parser.head is not None and parser.head.status == 200

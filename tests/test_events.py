"""Kong's payload modes (kong-aws-lambda.md sections 2.0-2.2, 2.4, 2.5) and our differences."""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

import pytest

from lambdaroute.config import LambdaPluginConfig
from lambdaroute.events import Payload, build_payload
from lambdaroute.snapshot import IncomingRequest

FORM = "application/x-www-form-urlencoded"
JSON_CT = "application/json"
FORWARD_ALL = LambdaPluginConfig(
    forward_request_method=True,
    forward_request_uri=True,
    forward_request_headers=True,
    forward_request_body=True,
)
FORWARD_BODY = LambdaPluginConfig(forward_request_body=True)


def make_request(
    *,
    query: str = "",
    body: bytes = b"",
    content_type: str | None = None,
    headers: tuple[tuple[str, str], ...] = (),
    method: str = "POST",
    path: str = "/post",
    too_large: bool = False,
) -> IncomingRequest:
    if content_type is not None:
        headers = (("Content-Type", content_type), *headers)
    return IncomingRequest(
        method=method,
        scheme="http",
        host="lambda.test",
        port=80,
        raw_path=path,
        raw_query=query,
        http_version="HTTP/1.1",
        headers=headers,
        body=body,
        body_too_large=too_large,
        client_ip="127.0.0.1",
        received_at=1_700_000_000.0,
        request_id="req-1",
    )


def decoded(plugin: LambdaPluginConfig, request: IncomingRequest) -> Any:
    payload = build_payload(plugin, request)
    assert isinstance(payload, Payload)
    return json.loads(payload.data)


def default(**request: Any) -> Any:
    return decoded(LambdaPluginConfig(), make_request(**request))


# --- default mode (2.1) -------------------------------------------------------------------


def test_default_query_and_form_body_are_merged() -> None:
    # Kong: "?key1=from_querystring" plus a form body without key1
    payload = default(query="key1=from_querystring", body=b"key2=some_value", content_type=FORM)
    assert payload == {"key1": "from_querystring", "key2": "some_value"}


def test_default_query_conventions() -> None:
    assert default(query="a=1&a=2") == {"a": ["1", "2"]}
    assert default(query="flag") == {"flag": True}
    assert default(query="x=") == {"x": ""}
    assert default(query="a&a=1&a") == {"a": [True, "1", True]}


def test_default_query_is_url_decoded_and_empty_keys_are_dropped() -> None:
    payload = default(query="na%20me=a+b%2Bc&%C3%A9=%E2%82%AC&&=orphan&eq=a=b")
    assert payload == {"na me": "a b+c", "é": "€", "eq": "a=b"}


def test_default_query_bytes_that_are_not_utf8_become_replacement_characters() -> None:
    assert default(query="k=%FF") == {"k": "\ufffd"}


def test_default_reads_at_most_100_query_args() -> None:
    query = "&".join(f"k{i}={i}" for i in range(150))
    payload = default(query=query)
    assert list(payload) == [f"k{i}" for i in range(100)]


def test_default_reads_at_most_100_form_args() -> None:
    body = "&".join(f"f{i}={i}" for i in range(101)).encode()
    payload = default(body=body, content_type=FORM)
    assert len(payload) == 100
    assert "f100" not in payload


def test_default_form_conventions() -> None:
    payload = default(body=b"a=1&a=2&flag&x=&sp=a+b", content_type=FORM)
    assert payload == {"a": ["1", "2"], "flag": True, "x": "", "sp": "a b"}


def test_default_body_keys_override_query_keys() -> None:
    payload = default(query="k=query&q=1", body=b'{"k": "body"}', content_type=JSON_CT)
    assert payload == {"k": "body", "q": "1"}


def test_default_with_no_query_and_no_body_is_an_empty_object() -> None:
    assert default() == {}
    assert build_payload(LambdaPluginConfig(), make_request()).data == b"{}"


def test_default_passes_empty_json_arrays_unmodified() -> None:
    # Kong's test: "[{}, []]" encodes back as "[{},[]]"
    request = make_request(body=b"[{}, []]", content_type=JSON_CT)
    assert build_payload(LambdaPluginConfig(), request).data == b"[{},[]]"
    assert default(body=b'{"a": [], "b": {"c": []}}', content_type=JSON_CT) == {
        "a": [],
        "b": {"c": []},
    }


def test_default_top_level_empty_array_stays_an_array() -> None:
    # deliberate difference: Kong's merge would send {}
    request = make_request(body=b"[]", content_type=JSON_CT)
    assert build_payload(LambdaPluginConfig(), request).data == b"[]"


def test_default_top_level_array_merges_with_query_by_one_based_index() -> None:
    payload = default(query="q=1", body=b'["a", {"b": []}]', content_type=JSON_CT)
    assert payload == {"q": "1", "1": "a", "2": {"b": []}}


@pytest.mark.parametrize("body", [b'"text"', b"42", b"true", b"null", b"{not json", b""])
def test_default_ignores_json_scalars_and_invalid_json(body: bytes) -> None:
    assert default(query="q=1", body=body, content_type=JSON_CT) == {"q": "1"}


def test_default_ignores_json_nested_too_deeply_to_parse() -> None:
    payload = default(query="q=1", body=b"[" * 100_000 + b"]" * 100_000, content_type=JSON_CT)
    assert payload == {"q": "1"}


def test_default_ignores_json_that_is_not_utf8() -> None:
    payload = default(query="q=1", body=b'{"a": "\xe9"}', content_type=JSON_CT)
    assert payload == {"q": "1"}


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/octet-stream", ""])
def test_default_ignores_missing_and_unsupported_content_types(content_type: str | None) -> None:
    payload = default(query="q=1", body=b"a=1", content_type=content_type)
    assert payload == {"q": "1"}


@pytest.mark.parametrize(
    "content_type",
    [
        "Application/JSON",
        "application/json; charset=utf-8",
        "application/json;charset=UTF-8",
        "application/json-patch+json",  # Kong matches the media type by prefix
    ],
)
def test_default_content_type_is_lower_cased_params_stripped_and_prefix_matched(
    content_type: str,
) -> None:
    assert default(body=b'{"a": 1}', content_type=content_type) == {"a": 1}


def test_default_uses_the_first_content_type_header() -> None:
    request = make_request(
        body=b'{"a": 1}',
        headers=(("content-type", JSON_CT), ("Content-Type", "text/plain")),
    )
    assert decoded(LambdaPluginConfig(), request) == {"a": 1}


def test_default_ignores_a_body_that_is_too_large_to_parse() -> None:
    # skip_large_bodies is not consulted in this mode: the body is never read
    for skip in (True, False):
        plugin = LambdaPluginConfig(skip_large_bodies=skip)
        for content_type, body in ((JSON_CT, b'{"a": 1}'), (FORM, b"a=1")):
            request = make_request(
                query="q=1", body=body, content_type=content_type, too_large=True
            )
            payload = build_payload(plugin, request)
            assert json.loads(payload.data) == {"q": "1"}
            assert payload.body_skipped is False


MULTIPART_BODY = (
    b"--XyZ\r\n"
    b'Content-Disposition: form-data; name="title"\r\n\r\n'
    b"line one\r\nline two\r\n"
    b"--XyZ\r\n"
    b'Content-Disposition: form-data; name="tag"\r\n\r\n'
    b"a\r\n"
    b"--XyZ\r\n"
    b'Content-Disposition: form-data; name="tag"\r\n\r\n'
    b"b\r\n"
    b"--XyZ\r\n"
    b'Content-Disposition: form-data; name="notes"; filename="notes.txt"\r\n'
    b"Content-Type: text/plain\r\n\r\n"
    b"caf\xc3\xa9\r\n"
    b"--XyZ\r\n"
    b'Content-Disposition: form-data; name="blob"; filename="blob.bin"\r\n'
    b"Content-Type: application/octet-stream\r\n\r\n"
    b"\x00\xff\xfe\x01\r\n"
    b"--XyZ\r\n"
    b"Content-Disposition: form-data\r\n\r\n"
    b"no name\r\n"
    b"--XyZ--\r\n"
)
MULTIPART_ARGS = {
    "title": "line one\r\nline two",
    "tag": ["a", "b"],
    "notes": "café",
    "blob": base64.b64encode(b"\x00\xff\xfe\x01").decode(),
}


def test_default_multipart_parts_become_string_values() -> None:
    payload = default(
        query="q=1", body=MULTIPART_BODY, content_type='multipart/form-data; boundary="XyZ"'
    )
    assert payload == {"q": "1", **MULTIPART_ARGS}


def test_default_multipart_without_a_usable_boundary_has_no_args() -> None:
    assert default(query="q=1", body=MULTIPART_BODY, content_type="multipart/form-data") == {
        "q": "1"
    }


def test_default_multipart_names_preamble_epilogue_and_unterminated_parts() -> None:
    body = (
        # a preamble that would look like a part to a parser not looking for the boundary
        b'pre:\r\nContent-Disposition: form-data; name="preamble"\r\n\r\nnot a part\r\n'
        b"--b0\r\n"
        b'Content-Disposition: form-data; name="caf\xc3\xa9 ;x"\r\n\r\n'
        b"raw utf-8 name\r\n"
        b"--b0\r\n"
        b"content-disposition: form-data; name*=UTF-8''%E2%82%AC\r\n\r\n"
        b"rfc 2231 name\r\n"
        b"--b0\r\n"
        b"Content-Disposition: form-data; name=empty\r\n\r\n"
        b"\r\n"
        b"--b0\r\n"
        b'Content-Disposition: form-data; name=""\r\n\r\n'
        b"empty names are dropped, as nginx drops empty arg keys\r\n"
        b"--b0--\r\n"
        b"--b0\r\n"
        b'Content-Disposition: form-data; name="after_close"\r\n\r\n'
        b"epilogue\r\n"
        b"--b0--\r\n"
    )
    assert default(body=body, content_type="multipart/form-data; boundary=b0") == {
        "café ;x": "raw utf-8 name",
        "€": "rfc 2231 name",
        "empty": "",
    }
    unterminated = b'--b0\r\nContent-Disposition: form-data; name="a"\r\n\r\ncut off'
    assert default(body=unterminated, content_type="multipart/form-data; boundary=b0") == {}


def test_default_mode_output_is_compact_utf8_json() -> None:
    request = make_request(query="k=%C3%A9+%E2%82%AC&n")
    assert build_payload(LambdaPluginConfig(), request).data == '{"k":"é €","n":true}'.encode()


# --- forward mode (2.2) -------------------------------------------------------------------


def test_forward_request_method_only() -> None:
    plugin = LambdaPluginConfig(forward_request_method=True)
    assert decoded(plugin, make_request(method="PATCH", query="a=1")) == {"request_method": "PATCH"}


def test_forward_request_headers_are_lower_cased_with_arrays_for_repeats() -> None:
    plugin = LambdaPluginConfig(forward_request_headers=True)
    request = make_request(
        headers=(("Host", "lambda.test"), ("X-Multi", "1"), ("x-multi", "2"), ("X-MULTI", "3"))
    )
    assert decoded(plugin, request) == {
        "request_headers": {"host": "lambda.test", "x-multi": ["1", "2", "3"]}
    }


def test_forward_request_headers_keeps_the_first_100() -> None:
    plugin = LambdaPluginConfig(forward_request_headers=True)
    request = make_request(headers=tuple((f"X-H{i}", str(i)) for i in range(120)))
    headers = decoded(plugin, request)["request_headers"]
    assert list(headers) == [f"x-h{i}" for i in range(100)]


def test_forward_request_uri_is_the_raw_path_with_query_and_its_args() -> None:
    plugin = LambdaPluginConfig(forward_request_uri=True)
    request = make_request(path="/a%20b/c", query="x=%2F&flag&a=1&a=2")
    assert decoded(plugin, request) == {
        "request_uri": "/a%20b/c?x=%2F&flag&a=1&a=2",
        "request_uri_args": {"x": "/", "flag": True, "a": ["1", "2"]},
    }
    assert decoded(plugin, make_request(path="/plain")) == {
        "request_uri": "/plain",
        "request_uri_args": {},
    }


def test_forward_all_flags() -> None:
    request = make_request(
        query="q=1", body=b'{"k": [1, 2]}', content_type=JSON_CT, headers=(("Accept", "*/*"),)
    )
    assert decoded(FORWARD_ALL, request) == {
        "request_method": "POST",
        "request_headers": {"content-type": JSON_CT, "accept": "*/*"},
        "request_uri": "/post?q=1",
        "request_uri_args": {"q": "1"},
        "request_body": '{"k": [1, 2]}',
        "request_body_args": {"k": [1, 2]},
    }


def test_forward_form_body_is_raw_text_with_its_args() -> None:
    request = make_request(body=b"a=1&a=2&b", content_type=FORM)
    assert decoded(FORWARD_BODY, request) == {
        "request_body": "a=1&a=2&b",
        "request_body_args": {"a": ["1", "2"], "b": True},
    }


def test_forward_invalid_json_is_raw_text_without_args() -> None:
    request = make_request(body=b"{nope", content_type=JSON_CT)
    assert decoded(FORWARD_BODY, request) == {"request_body": "{nope"}


def test_forward_empty_json_body_has_neither_body_nor_args() -> None:
    # Kong: no body data -> body_raw nil; "" is invalid JSON -> no args
    assert decoded(FORWARD_BODY, make_request(content_type=JSON_CT)) == {}


@pytest.mark.parametrize(
    ("content_type", "body"), [("application/xml", b"<xml/>"), ("text/plain", b"some text")]
)
def test_forward_raw_content_types_are_sent_as_text(content_type: str, body: bytes) -> None:
    payload = decoded(FORWARD_BODY, make_request(body=body, content_type=content_type))
    assert payload == {"request_body": body.decode(), "request_body_args": {}}


@pytest.mark.parametrize("content_type", ["text/html", "text/xml", "application/soap+xml"])
def test_forward_other_raw_content_types(content_type: str) -> None:
    payload = decoded(FORWARD_BODY, make_request(body=b"<a>1</a>", content_type=content_type))
    assert payload == {"request_body": "<a>1</a>", "request_body_args": {}}


@pytest.mark.parametrize(
    "content_type", ["text/plain; charset=utf-8", "Text/Plain", "application/octet-stream", "x/y"]
)
def test_forward_other_content_types_are_base64(content_type: str) -> None:
    # raw types must match the whole header value exactly, case included
    payload = decoded(FORWARD_BODY, make_request(body=b"01234", content_type=content_type))
    assert payload == {
        "request_body": "MDEyMzQ=",
        "request_body_base64": True,
        "request_body_args": {},
    }


def test_forward_no_content_type_and_no_body() -> None:
    assert decoded(FORWARD_BODY, make_request()) == {
        "request_body": "",
        "request_body_base64": True,
        "request_body_args": {},
    }


def test_forward_base64_disabled_sends_unknown_types_raw() -> None:
    plugin = LambdaPluginConfig(forward_request_body=True, base64_encode_body=False)
    request = make_request(body=b"01234", content_type="application/octet-stream")
    assert decoded(plugin, request) == {"request_body": "01234", "request_body_args": {}}
    assert decoded(plugin, make_request()) == {"request_body_args": {}}


def test_forward_non_utf8_body_is_base64_even_when_kong_would_send_it_raw() -> None:
    # deliberate difference: Kong would produce invalid JSON
    raw = b"\xff\xfe binary \x00"
    expected = {
        "request_body": base64.b64encode(raw).decode(),
        "request_body_base64": True,
        "request_body_args": {},
    }
    plugin = LambdaPluginConfig(forward_request_body=True, base64_encode_body=False)
    assert decoded(plugin, make_request(body=raw, content_type="application/octet-stream")) == (
        expected
    )
    assert decoded(FORWARD_BODY, make_request(body=raw, content_type="text/plain")) == expected
    invalid_json = decoded(FORWARD_BODY, make_request(body=raw, content_type=JSON_CT))
    assert invalid_json == {
        "request_body": base64.b64encode(raw).decode(),
        "request_body_base64": True,
    }


def test_forward_multipart_body_and_args() -> None:
    request = make_request(body=MULTIPART_BODY, content_type="multipart/form-data; boundary=XyZ")
    payload = decoded(FORWARD_BODY, request)
    # the body holds a binary file part, so it is not UTF-8 and goes as base64
    assert payload == {
        "request_body": base64.b64encode(MULTIPART_BODY).decode(),
        "request_body_base64": True,
        "request_body_args": MULTIPART_ARGS,
    }


# --- skip_large_bodies (2.4) ---------------------------------------------------------------

LARGE_BODY = b"A" * 32 * 1024
SMALL_BODY = b"B" * 1024


def test_large_body_skipped() -> None:
    plugin = LambdaPluginConfig(forward_request_body=True, skip_large_bodies=True)
    payload = build_payload(plugin, make_request(body=LARGE_BODY, too_large=True))
    assert payload.body_skipped is True
    assert json.loads(payload.data) == {
        "request_body": "",
        "request_body_base64": True,
        "request_body_args": {},
    }


def test_large_body_read_when_not_skipping() -> None:
    plugin = LambdaPluginConfig(forward_request_body=True, skip_large_bodies=False)
    payload = build_payload(plugin, make_request(body=LARGE_BODY, too_large=True))
    assert payload.body_skipped is False
    assert json.loads(payload.data)["request_body"] == base64.b64encode(LARGE_BODY).decode()


def test_small_body_is_read_even_when_skipping() -> None:
    plugin = LambdaPluginConfig(forward_request_body=True, skip_large_bodies=True)
    payload = build_payload(plugin, make_request(body=SMALL_BODY))
    assert payload.body_skipped is False
    assert json.loads(payload.data)["request_body"] == base64.b64encode(SMALL_BODY).decode()


def test_large_json_body_is_never_parsed_in_forward_mode() -> None:
    body = b'{"a": "' + LARGE_BODY + b'"}'
    kept = LambdaPluginConfig(forward_request_body=True, skip_large_bodies=False)
    request = make_request(body=body, content_type=JSON_CT, too_large=True)
    assert decoded(kept, request) == {"request_body": body.decode()}
    assert decoded(FORWARD_BODY, request) == {}


def test_body_skipped_only_when_the_mode_reads_the_body() -> None:
    request = make_request(body=LARGE_BODY, too_large=True)
    headers_only = LambdaPluginConfig(forward_request_headers=True)
    assert build_payload(headers_only, request).body_skipped is False
    assert build_payload(LambdaPluginConfig(), request).body_skipped is False


# --- JSON encoding (2.5) -------------------------------------------------------------------


def test_unencodable_payload_is_sent_empty_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    # cjson decodes 1e999 to inf and then fails to encode it: Kong invokes with no payload
    request = make_request(body=b'{"big": 1e999}', content_type=JSON_CT)
    with caplog.at_level(logging.ERROR, logger="lambdaroute.events"):
        payload = build_payload(LambdaPluginConfig(), request)
    assert payload.data == b""
    assert "could not JSON encode upstream body to forward request values" in caplog.text


def test_undecodable_header_bytes_still_give_valid_utf8_json() -> None:
    # mitmproxy hands undecodable header bytes over as lone surrogates
    plugin = LambdaPluginConfig(forward_request_headers=True)
    request = make_request(headers=(("X-Raw", "a\udcffb"),))
    data = build_payload(plugin, request).data
    assert json.loads(data.decode("utf-8")) == {"request_headers": {"x-raw": "a?b"}}


# --- mode selection (2.0) ------------------------------------------------------------------


@pytest.mark.parametrize(
    "plugin",
    [
        LambdaPluginConfig(awsgateway_compatible=True),
        # gateway-compatible wins over the forward flags (Kong's 06 spec "gw.*" routes)
        LambdaPluginConfig(awsgateway_compatible=True, forward_request_method=True),
        LambdaPluginConfig(alb_target_compatible=True, forward_request_body=True),
    ],
)
def test_gateway_and_alb_modes_build_the_apigateway_event(plugin: LambdaPluginConfig) -> None:
    request = make_request(query="q=1", body=LARGE_BODY, too_large=True)
    try:
        payload = build_payload(plugin, request)
    except NotImplementedError:
        pytest.skip("apigateway.build_event is still the skeleton (another helper's module)")
    event = json.loads(payload.data)
    assert event["httpMethod"] == "POST"
    assert "request_method" not in event
    # the gateway event reads the body, so the skip is reported there too
    assert payload.body_skipped is True

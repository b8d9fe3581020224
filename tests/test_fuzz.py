"""Property-based fuzzing (hypothesis), bounded for CI (``max_examples``, no deadline).

* The config loader: arbitrary YAML/JSON documents and mutated valid configs either load
  or raise ConfigError, never another exception (public API only: ``load_config``).
* The proxy-response parser: any function answer, in every payload mode, is a valid HTTP
  response (it goes through the addon's response building and mitmproxy's serializer and
  back through a strict parser) or a 502, never a 500 or an exception.
* The event builders: any request, in every event mode, gives a JSON payload.
"""

from __future__ import annotations

import copy
import json
import math
import tempfile
from pathlib import Path
from typing import Any

import h11
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mitmproxy import http
from mitmproxy.net.http.http1 import assemble
from mitmproxy.test import tflow

from lambdaroute.config import LambdaPluginConfig, load_config
from lambdaroute.errors import BadLambdaResponseError, ConfigError, FunctionFailedError
from lambdaroute.events import build_payload
from lambdaroute.flow_http import to_response
from lambdaroute.invocation import InvokeResult
from lambdaroute.responses import error_response, shape_response
from lambdaroute.snapshot import RouteContext, snapshot_from_flow

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
CONFIGS = Path(__file__).parent / "configs"
WORK_DIR = Path(tempfile.mkdtemp(prefix="lambda-route-fuzz-"))

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=15), children, max_size=5)
    ),
    max_leaves=30,
)


def _load(text: str, suffix: str = ".yaml") -> None:
    path = WORK_DIR / f"kong{suffix}"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        load_config(str(path))
    except ConfigError as error:
        assert str(error)  # a message, naming at least the file
        assert "Traceback" not in str(error)


# --- the config loader -------------------------------------------------------------------


@FUZZ
@given(st.text(max_size=300))
def test_any_text_loads_or_is_a_config_error(text: str) -> None:
    _load(text)


@FUZZ
@given(json_values)
def test_any_json_document_loads_or_is_a_config_error(document: Any) -> None:
    _load(json.dumps(document), ".json")


def _valid_documents() -> list[Any]:
    documents = []
    for path in sorted(CONFIGS.iterdir()):
        text = path.read_text()
        documents.append(json.loads(text) if path.suffix == ".json" else yaml.safe_load(text))
    return documents


VALID = _valid_documents()


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out += _paths(value, (*prefix, index))
    return out


@st.composite
def mutated_configs(draw: st.DrawFn) -> Any:
    document = copy.deepcopy(draw(st.sampled_from(VALID)))
    for _ in range(draw(st.integers(1, 4))):
        paths = _paths(document)
        path = draw(st.sampled_from(paths))
        if not path:
            continue
        parent = document
        for key in path[:-1]:
            parent = parent[key]
        action = draw(st.sampled_from(["replace", "delete", "add", "duplicate"]))
        if action == "replace":
            parent[path[-1]] = draw(json_values)
        elif action == "delete":
            del parent[path[-1]]
        elif action == "add" and isinstance(parent, dict):
            parent[draw(st.text(max_size=12))] = draw(json_values)
        elif action == "duplicate" and isinstance(parent, list):
            parent.append(copy.deepcopy(parent[path[-1]]))
    return document


@FUZZ
@given(mutated_configs())
def test_mutated_valid_configs_load_or_are_a_config_error(document: Any) -> None:
    _load(yaml.safe_dump(document, allow_unicode=True))


# --- the proxy-response parser -------------------------------------------------------------

PLUGINS = [
    LambdaPluginConfig(is_proxy_integration=True),
    LambdaPluginConfig(is_proxy_integration=True, awsgateway_compatible=True),
    LambdaPluginConfig(
        is_proxy_integration=True,
        awsgateway_compatible=True,
        awsgateway_compatible_payload_version="2.0",
    ),
    LambdaPluginConfig(is_proxy_integration=True, alb_target_compatible=True),
    LambdaPluginConfig(),  # not proxy integration: Lambda's answer as it is
]
header_values = st.one_of(
    st.text(max_size=20),
    st.text(
        st.characters(categories=["Cs", "Cc", "Lu"]), max_size=4
    ),  # surrogates, CR, LF st.integers(), st.floats(), st.booleans(), st.none(), json_values
)
statuses = st.one_of(
    st.integers(min_value=-5, max_value=1000),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["200", " 404 ", "0x1F4", "nan", "inf", "-Infinity", "1e3", "101", "2_00"]),
    st.text(max_size=8),
    json_values,
)


@st.composite
def answers(draw: st.DrawFn) -> bytes:
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=60))
    document: dict[str, Any] = {}
    if draw(st.booleans()) or draw(st.booleans()):
        document["statusCode"] = draw(statuses)
    header_names = st.text(max_size=12) | st.sampled_from(["Content-Type", "Set-Cookie", "X-A"])
    for field, strategy in (
        ("headers", st.dictionaries(header_names, header_values, max_size=4) | json_values),
        (
            "multiValueHeaders",
            st.dictionaries(header_names, st.lists(header_values, max_size=3), max_size=3)
            | json_values,
        ),
        ("body", st.text(max_size=40) | json_values),
        ("isBase64Encoded", st.booleans() | json_values),
        ("cookies", st.lists(st.text(max_size=20), max_size=3) | json_values),
        ("statusDescription", st.text(max_size=20) | json_values),
    ):
        if draw(st.booleans()):
            document[field] = draw(strategy)
    return json.dumps(document, allow_nan=True).encode("utf-8", "surrogatepass")


def _round_trip(response_bytes: bytes, method: str) -> int:
    """Parse what mitmproxy would send with h11 (strict RFC 9112): the status."""
    connection = h11.Connection(h11.CLIENT)
    connection.send(h11.Request(method=method, target="/", headers=[("Host", "x")]))
    connection.receive_data(response_bytes)
    connection.receive_data(b"")
    event = connection.next_event()
    assert isinstance(event, h11.Response), event
    return event.status_code


@FUZZ
@given(
    st.sampled_from(PLUGINS),
    answers(),
    st.sampled_from([(), (("X-Amz-Function-Error", "Unhandled"),)]),
    st.sampled_from(["GET", "HEAD", "POST"]),
)
def test_any_function_answer_is_a_valid_response_or_a_502(
    plugin: LambdaPluginConfig,
    body: bytes,
    headers: tuple[tuple[str, str], ...],
    method: str,
) -> None:
    result = InvokeResult(200, headers, body, 1.0, "f", None)
    try:
        shaped = shape_response(plugin, result, client_http_version="HTTP/1.1")
    except BadLambdaResponseError as error:
        shaped = error_response(error, "req")
        assert shaped.status == 502
        assert json.loads(shaped.body)["error"].count("could not JSON decode") == 1
    except FunctionFailedError as error:  # a function error never reaches the parser
        assert headers and plugin.is_proxy_integration
        shaped = error_response(error, "req")
        assert shaped.status == 502
    assert 200 <= shaped.status <= 599
    response = to_response(shaped, method)
    assert _round_trip(assemble.assemble_response(response), method) == shaped.status
    # built without mitmproxy's field type checks: the checked constructor takes its state
    state = response.get_state()
    assert http.Response.from_state(dict(state)).get_state() == state


# --- the event builders ----------------------------------------------------------------

EVENT_PLUGINS = [
    LambdaPluginConfig(),
    LambdaPluginConfig(
        forward_request_method=True,
        forward_request_uri=True,
        forward_request_headers=True,
        forward_request_body=True,
    ),
    LambdaPluginConfig(awsgateway_compatible=True, forward_request_body=True),
    LambdaPluginConfig(awsgateway_compatible=True, awsgateway_compatible_payload_version="2.0"),
    LambdaPluginConfig(alb_target_compatible=True),
    LambdaPluginConfig(skip_large_bodies=True, forward_request_body=True, base64_encode_body=False),
]
token = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_",
    min_size=1,
    max_size=12,
)
path_text = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=0, max_size=40
)


@st.composite
def flows(draw: st.DrawFn) -> Any:
    flow = tflow.tflow()
    request = flow.request
    request.method = draw(st.sampled_from(["GET", "POST", "PUT", "HEAD", "OPTIONS", "PATCH", "X"]))
    request.path = "/" + draw(path_text)
    request.http_version = draw(st.sampled_from(["HTTP/1.1", "HTTP/2.0", "HTTP/1.0"]))
    request.headers.clear()
    for _ in range(draw(st.integers(0, 6))):
        name = draw(token | st.sampled_from(["Content-Type", "Cookie", "Content-Encoding"]))
        value = draw(
            st.text(max_size=30).map(lambda v: v.replace("\r", "").replace("\n", ""))
            | st.sampled_from(
                [
                    "application/json",
                    "application/x-www-form-urlencoded",
                    "multipart/form-data; boundary=b",
                    "a=1; b=2; a=3",
                    "text/plain; charset=latin-1",
                ]
            )
        )
        request.headers.add(name, value)
    request.raw_content = draw(
        st.binary(max_size=80)
        | st.sampled_from(
            [
                b"a=1&b=%zz&a",
                b'{"a": [1, {}]}',
                b'--b\r\nContent-Disposition: form-data; name="x"\r\n\r\n1\r\n--b--\r\n',
            ]
        )
    )
    return flow


@FUZZ
@given(
    st.sampled_from(EVENT_PLUGINS),
    flows(),
    st.dictionaries(token, st.text(max_size=10), max_size=2),
    st.integers(min_value=0, max_value=100),
)
def test_any_request_builds_a_json_event(
    plugin: LambdaPluginConfig, flow: Any, captures: dict[str, str], buffer_size: int
) -> None:
    context = RouteContext(
        route_name="r", matched_path="/", path_captures=captures, upstream_path="/"
    )
    snapshot = snapshot_from_flow(
        flow,
        context,
        scheme="http",
        host="example.test",
        port=80,
        request_id="0" * 32,
        body_buffer_size=buffer_size,
    )
    payload = build_payload(plugin, snapshot)
    document = json.loads(payload.data)
    assert isinstance(document, (dict, list))
    assert not _has_non_finite(document)


def _has_non_finite(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_has_non_finite(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_non_finite(v) for v in value)
    return False

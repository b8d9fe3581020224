"""Real Lambda web apps answer our events as they answer their own test clients.

For each web app, event mode and request of the matrix: build our event from the request,
validate it with Powertools' event models, call the app's Lambda handler in-process, read
its return value with parse_proxy_response, and compare with what the framework's own
test client answers for the same HTTP request (FastAPI's TestClient, Flask's test client;
for Powertools, which has none, the handler's answer to AWS's sample event carrying the
same request).
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Callable
from functools import cache
from typing import Any

import pytest
from aws_lambda_powertools.utilities.parser.models import (
    AlbModel,
    APIGatewayProxyEventModel,
    APIGatewayProxyEventV2Model,
)

from lambdaroute.apigateway import build_event
from lambdaroute.config import LambdaPluginConfig
from lambdaroute.proxy_integration import parse_proxy_response
from lambdaroute.snapshot import IncomingRequest, RouteContext
from tests.webapps.matrix import (
    CASES,
    WEBAPPS,
    Case,
    LambdaContext,
    comparable,
    last_response_values,
    observed,
    reference_http_event,
    reference_rest_event,
)

pytestmark = pytest.mark.webapps

MODES: dict[str, dict[str, Any]] = {
    "v1": {"awsgateway_compatible": True},
    "v2": {"awsgateway_compatible": True, "awsgateway_compatible_payload_version": "2.0"},
    "alb": {"alb_target_compatible": True},
    "alb-multi": {"alb_target_compatible": True, "alb_multi_value_headers": True},
}

#: (function, handler module, the direct call it is compared with, event modes)
APPS = (
    ("fastapi-mangum", "webapp_fastapi", "fastapi", ("v1", "v2", "alb", "alb-multi")),
    ("flask-serverless-wsgi", "webapp_flask_serverless_wsgi", "flask", tuple(MODES)),
    ("flask-apig-wsgi", "webapp_flask_apig_wsgi", "flask", tuple(MODES)),
    ("powertools-rest", "webapp_powertools_rest", "powertools-rest", ("v1",)),
    ("powertools-http", "webapp_powertools_http", "powertools-http", ("v2",)),
)
HOSTS = {"fastapi": "testserver", "flask": "localhost"}

COMBINATIONS = [
    pytest.param(
        name, module, direct, mode, encode, id=f"{name}-{mode}-b64{'on' if encode else 'off'}"
    )
    for name, module, direct, modes in APPS
    for mode in modes
    for encode in (True, False)
]

#: where the app behind AWS answers differently from its test client, for a reason that
#: is the adapter's, not the event's
ADAPTER_FAULTS = {
    ("flask-apig-wsgi", "v2", "path-unicode"): (
        "apig-wsgi unquotes rawPath as Latin-1, but HTTP API delivers it decoded, so a "
        "non-ASCII path reaches Flask garbled behind AWS too"
    ),
}


@cache
def _module(name: str) -> Any:
    # The web apps import their siblings, as a Lambda's task root is on sys.path.
    if str(WEBAPPS) not in sys.path:
        sys.path.insert(0, str(WEBAPPS))
    return importlib.import_module(name)


def _plugin(mode: str, encode: bool) -> LambdaPluginConfig:
    return LambdaPluginConfig(is_proxy_integration=True, base64_encode_body=encode, **MODES[mode])


def _request(case: Case, host: str) -> IncomingRequest:
    return IncomingRequest(
        method=case.method,
        scheme="http",
        host=host,
        port=80,
        raw_path=case.path,
        raw_query=case.query,
        http_version="HTTP/1.1",
        headers=(("Host", host), *case.headers),
        body=case.body,
        body_too_large=False,
        client_ip="127.0.0.1",
        received_at=1_700_000_000.123,
        request_id="a1b2c3",
        route=RouteContext(route_name="app", matched_path="/", upstream_path=case.path),
    )


def _validate(mode: str, event: dict[str, Any]) -> None:
    if mode == "v1":
        APIGatewayProxyEventModel.model_validate(event)
    elif mode == "v2":
        APIGatewayProxyEventV2Model.model_validate(event)
    elif mode == "alb":
        AlbModel.model_validate(event)
    else:
        # AlbModel requires the single-value maps, which AWS leaves out in this mode
        # (Powertools' own albMultiValueHeadersEvent.json fails it too): check the rest.
        AlbModel.model_validate({**event, "headers": {}, "queryStringParameters": {}})
        assert "headers" not in event and "queryStringParameters" not in event


def _call(handler: Callable[..., Any], event: dict[str, Any]) -> dict[str, Any]:
    # What the Lambda runtime does with the return value: JSON on the wire.
    return json.loads(json.dumps(handler(event, LambdaContext())))


def _from_return_value(plugin: LambdaPluginConfig, value: dict[str, Any]) -> dict[str, Any]:
    response = parse_proxy_response(plugin, json.dumps(value).encode())
    return observed(response.status, list(response.headers), response.body)


@cache
def _direct(kind: str, case: Case) -> dict[str, Any]:
    if kind == "fastapi":
        from fastapi.testclient import TestClient

        client = TestClient(_module("webapp_fastapi").app, follow_redirects=False)
        answer = client.request(
            case.method, case.target, headers=list(case.headers), content=case.body
        )
        return observed(answer.status_code, answer.headers.multi_items(), answer.content)
    if kind == "flask":
        client = _module("webapp_flask").app.test_client(use_cookies=False)
        flask_answer = client.open(
            case.path,
            method=case.method,
            query_string=case.query,
            headers=list(case.headers),
            data=case.body,
        )
        return observed(
            flask_answer.status_code, list(flask_answer.headers.items()), flask_answer.data
        )
    reference = reference_rest_event if kind == "powertools-rest" else reference_http_event
    handler = _module(f"webapp_{kind.replace('-', '_')}").handler
    mode = "v1" if kind == "powertools-rest" else "v2"
    return _from_return_value(_plugin(mode, False), _call(handler, reference(case, "localhost")))


def _expected(function: str, direct: str, mode: str, case: Case) -> dict[str, Any]:
    """The direct answer, after what AWS and the adapter do to repeated values:
    - an ALB without multi-value headers passes on the last value of a repeated header
      or query argument;
    - serverless-wsgi keeps the last value of a repeated request header (v2 joins them
      into one, which it keeps whole);
    - apig-wsgi keeps the last value of a repeated response header in v2 and
      single-value ALB responses (set-cookie included on ALB)."""
    if mode == "alb" or (function == "flask-serverless-wsgi" and mode != "v2"):
        case = case.last_values(query=mode == "alb")
    expected = _direct(direct, case)
    if function == "flask-apig-wsgi" and mode in ("v2", "alb"):
        kept_cookies = expected["set-cookie"] if mode == "v2" else expected["set-cookie"][-1:]
        expected = {**last_response_values(expected), "set-cookie": kept_cookies}
    return expected


@pytest.mark.parametrize(("function", "module", "direct", "mode", "encode"), COMBINATIONS)
@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_app_answers_as_directly(
    function: str, module: str, direct: str, mode: str, encode: bool, case: Case
) -> None:
    plugin = _plugin(mode, encode)
    event = build_event(plugin, _request(case, HOSTS.get(direct, "localhost")))
    _validate(mode, event)
    behind_proxy = _from_return_value(plugin, _call(_module(module).handler, event))
    expected = _expected(function, direct, mode, case)
    if case.method == "HEAD":  # HTTP sends no body for HEAD, whatever the handler returns
        behind_proxy, expected = {**behind_proxy, "body": b""}, {**expected, "body": b""}
    fault = ADAPTER_FAULTS.get((function, mode, case.id))
    if fault:
        assert comparable(behind_proxy, expected) != expected, f"fixed? {fault}"
    else:
        assert comparable(behind_proxy, expected) == expected

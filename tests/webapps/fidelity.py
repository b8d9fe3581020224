"""Which web app runs in which event mode, and what it must answer: the direct answer of
its own test client, after what AWS and the adapter do to repeated values.

Shared by the in-process tests and the end-to-end tests through mitmdump.
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Callable
from functools import cache
from typing import Any

from lambdaroute.config import LambdaPluginConfig
from lambdaroute.proxy_integration import parse_proxy_response
from tests.webapps.matrix import (
    WEBAPPS,
    Case,
    LambdaContext,
    last_response_values,
    observed,
    reference_http_event,
    reference_rest_event,
)

#: plugin settings of each event mode
MODES: dict[str, dict[str, Any]] = {
    "v1": {"awsgateway_compatible": True},
    "v2": {"awsgateway_compatible": True, "awsgateway_compatible_payload_version": "2.0"},
    "alb": {"alb_target_compatible": True},
    "alb-multi": {"alb_target_compatible": True, "alb_multi_value_headers": True},
}

#: (function in functions.yaml, handler module, the direct call it is compared with, modes)
APPS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("fastapi-mangum", "webapp_fastapi", "fastapi", tuple(MODES)),
    ("flask-serverless-wsgi", "webapp_flask_serverless_wsgi", "flask", tuple(MODES)),
    ("flask-apig-wsgi", "webapp_flask_apig_wsgi", "flask", tuple(MODES)),
    ("powertools-rest", "webapp_powertools_rest", "powertools-rest", ("v1",)),
    ("powertools-http", "webapp_powertools_http", "powertools-http", ("v2",)),
)

#: the Host each test client sends
HOSTS = {"fastapi": "testserver", "flask": "localhost"}

#: where the app behind AWS answers differently from its test client, for a reason that
#: is the adapter's, not the event's
ADAPTER_FAULTS = {
    ("flask-apig-wsgi", "v2", "path-unicode"): (
        "apig-wsgi unquotes rawPath as Latin-1, but HTTP API delivers it decoded, so a "
        "non-ASCII path reaches Flask garbled behind AWS too"
    ),
}


def plugin(mode: str, encode: bool) -> LambdaPluginConfig:
    return LambdaPluginConfig(is_proxy_integration=True, base64_encode_body=encode, **MODES[mode])


@cache
def module(name: str) -> Any:
    # The web apps import their siblings, as a Lambda's task root is on sys.path.
    if str(WEBAPPS) not in sys.path:
        sys.path.insert(0, str(WEBAPPS))
    return importlib.import_module(name)


def call(handler: Callable[..., Any], event: dict[str, Any]) -> dict[str, Any]:
    """Call a handler as the Lambda runtime does: the return value travels as JSON."""
    return json.loads(json.dumps(handler(event, LambdaContext())))


def from_return_value(config: LambdaPluginConfig, value: dict[str, Any]) -> dict[str, Any]:
    response = parse_proxy_response(config, json.dumps(value).encode())
    return observed(response.status, list(response.headers), response.body)


@cache
def direct(kind: str, case: Case) -> dict[str, Any]:
    """The app's answer to ``case`` through its framework's own test client."""
    if kind == "fastapi":
        from fastapi.testclient import TestClient

        client = TestClient(module("webapp_fastapi").app, follow_redirects=False)
        answer = client.request(
            case.method, case.target, headers=list(case.headers), content=case.body
        )
        return observed(answer.status_code, answer.headers.multi_items(), answer.content)
    if kind == "flask":
        flask_client = module("webapp_flask").app.test_client(use_cookies=False)
        flask_answer = flask_client.open(
            case.path,
            method=case.method,
            query_string=case.query,
            headers=list(case.headers),
            data=case.body,
        )
        return observed(
            flask_answer.status_code, list(flask_answer.headers.items()), flask_answer.data
        )
    # Powertools has no test client: its answer to AWS's sample event carrying the request
    reference = reference_rest_event if kind == "powertools-rest" else reference_http_event
    handler = module(f"webapp_{kind.replace('-', '_')}").handler
    mode = "v1" if kind == "powertools-rest" else "v2"
    return from_return_value(plugin(mode, False), call(handler, reference(case, "localhost")))


def expected(function: str, kind: str, mode: str, case: Case) -> dict[str, Any]:
    """The direct answer, after what AWS and the adapter do to repeated values:
    - an ALB without multi-value headers passes on the last value of a repeated header
      or query argument;
    - serverless-wsgi keeps the last value of a repeated request header (v2 joins them
      into one, which it keeps whole);
    - apig-wsgi keeps the last value of a repeated response header in v2 and
      single-value ALB responses (set-cookie included on ALB)."""
    if mode == "alb" or (function == "flask-serverless-wsgi" and mode != "v2"):
        case = case.last_values(query=mode == "alb")
    answer = direct(kind, case)
    if function == "flask-apig-wsgi" and mode in ("v2", "alb"):
        kept_cookies = answer["set-cookie"] if mode == "v2" else answer["set-cookie"][-1:]
        answer = {**last_response_values(answer), "set-cookie": kept_cookies}
    if case.method == "HEAD":  # HTTP sends no body for HEAD, whatever the handler returns
        answer = {**answer, "body": b""}
    return answer

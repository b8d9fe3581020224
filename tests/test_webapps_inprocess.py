"""Real Lambda web apps answer our events as they answer their own test clients.

For each web app, event mode and request of the matrix: build our event from the
request, validate it with Powertools' event models (webapp_events), call the app's
Lambda handler in-process, read its return value with parse_proxy_response, and compare
with what the framework's own test client answers for the same HTTP request (FastAPI's
TestClient, Flask's test client; for Powertools, which has none, the handler's answer to
AWS's sample event carrying the same request). tests/webapps/fidelity.py says which
differences AWS itself makes.
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from lambdaroute.apigateway import build_event
from lambdaroute.snapshot import IncomingRequest, RouteContext
from tests.webapps.fidelity import (
    ADAPTER_FAULTS,
    APPS,
    HOSTS,
    call,
    expected,
    from_return_value,
    module,
    plugin,
)
from tests.webapps.matrix import CASES, Case, comparable

pytestmark = pytest.mark.webapps

COMBINATIONS = [
    pytest.param(
        name, handler_module, kind, mode, encode, id=f"{name}-{mode}-b64{'on' if encode else 'off'}"
    )
    for name, handler_module, kind, modes in APPS
    for mode in modes
    for encode in (True, False)
]


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


@pytest.mark.parametrize(("function", "handler_module", "kind", "mode", "encode"), COMBINATIONS)
@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_app_answers_as_directly(
    function: str, handler_module: str, kind: str, mode: str, encode: bool, case: Case
) -> None:
    config = plugin(mode, encode)
    event = build_event(config, _request(case, HOSTS.get(kind, "localhost")))
    module("webapp_events").validate(event)  # Powertools' models (the handlers do too)
    behind_proxy = from_return_value(config, call(module(handler_module).handler, event))
    if case.method == "HEAD":
        behind_proxy["body"] = b""  # as HTTP: no body for HEAD
    answer = expected(function, kind, mode, case)
    fault = ADAPTER_FAULTS.get((function, mode, case.id))
    if fault:
        assert comparable(behind_proxy, answer) != answer, f"fixed? {fault}"
    else:
        assert comparable(behind_proxy, answer) == answer


@pytest.mark.parametrize("mode", ["v1", "v2", "alb", "alb-multi"])
def test_handlers_reject_an_invalid_event(mode: str) -> None:
    event = build_event(plugin(mode, True), _request(CASES[0], "localhost"))
    event["httpMethod" if mode != "v2" else "rawPath"] = None
    with pytest.raises(ValidationError):
        module("webapp_fastapi").handler(event, None)

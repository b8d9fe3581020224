"""Real Lambda web apps behind the proxy: a real mitmdump with the addon, the local Lambda
server running the apps of tests/webapps/ as functions, and a real HTTP client.

Each app, in each event mode it serves and with base64_encode_body on and off, answers
every request of the matrix as its own test client answers it (tests/webapps/fidelity.py).
A route per combination, told apart by the Host header.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.local_lambda_fixtures import start_local_lambda
from tests.mitmdump_process import Mitmdump, run_mitmdump
from tests.webapps.fidelity import ADAPTER_FAULTS, APPS, MODES, expected
from tests.webapps.matrix import CASES, WEBAPPS, Case, comparable, observed

pytestmark = [pytest.mark.e2e, pytest.mark.webapps]

SECRET = "webapps-secret-4kQ"

COMBINATIONS = [
    pytest.param(name, kind, mode, encode, id=f"{name}-{mode}-b64{'on' if encode else 'off'}")
    for name, _, kind, modes in APPS
    for mode in modes
    for encode in (True, False)
]


def _host(function: str, mode: str, encode: bool) -> str:
    return f"{function}.{mode}.b64{'on' if encode else 'off'}.test"


def _plugin(lambda_port: int, function: str, **config: Any) -> dict[str, Any]:
    base = {
        "aws_region": "us-east-1",
        "aws_key": "webapps-key",
        "aws_secret": SECRET,
        "host": "127.0.0.1",
        "port": lambda_port,
        "disable_https": True,
        "function_name": function,
        "is_proxy_integration": True,
    }
    return {"name": "aws-lambda", "config": {**base, **config}}


def _routes(lambda_port: int) -> list[dict[str, Any]]:
    routes: list[dict[str, Any]] = [
        {
            "name": host.replace(".", "-"),
            "hosts": [host],
            "plugins": [_plugin(lambda_port, function, base64_encode_body=encode, **MODES[mode])],
        }
        for function, _, mode, encode in (param.values for param in COMBINATIONS)
        for host in [_host(function, mode, encode)]
    ]
    routes += [
        {
            "name": f"site-{mode}",
            "hosts": [f"regex.{mode}.test"],
            "paths": ["~/site/(?<siteSlug>[^/]+)$"],
            "strip_path": False,
            "plugins": [_plugin(lambda_port, "fastapi-mangum", **MODES[mode])],
        }
        for mode in ("v1", "v2")
    ]
    return routes


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mitmdump]:
    tmp_path = tmp_path_factory.mktemp("webapps")
    with start_local_lambda(
        WEBAPPS / "functions.yaml", access_key="webapps-key", secret_key=SECRET
    ) as server:
        config = tmp_path / "kong.yaml"
        config.write_text(
            yaml.safe_dump({"_format_version": "3.0", "routes": _routes(server.port)})
        )
        # reverse mode to a closed port: every request must be answered by a Lambda
        with run_mitmdump(
            config, "--mode", "reverse:http://127.0.0.1:9", tmp_path=tmp_path
        ) as mitm:
            yield mitm


@pytest.fixture(scope="module")
def client(proxy: Mitmdump) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=proxy.url, timeout=30) as http:
        yield http


def _send(client: httpx.Client, host: str, case: Case) -> dict[str, Any]:
    client.cookies.clear()  # every request carries only the case's own cookies
    request = client.build_request(
        case.method,
        case.target,
        headers=[("Host", host), *case.headers],
        content=case.body or None,
    )
    response = client.send(request)
    return observed(response.status_code, response.headers.multi_items(), response.content)


@pytest.mark.parametrize(("function", "kind", "mode", "encode"), COMBINATIONS)
@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_app_answers_through_the_proxy_as_directly(
    proxy: Mitmdump,
    client: httpx.Client,
    function: str,
    kind: str,
    mode: str,
    encode: bool,
    case: Case,
) -> None:
    host = _host(function, mode, encode)
    if case.method == "HEAD":
        # its own connection, and a second request on it: a HEAD answer that carries a
        # body breaks the framing of the next answer (and of no other test)
        with httpx.Client(base_url=proxy.url, timeout=30) as own:
            behind_proxy = _send(own, host, case)
            assert own.get("/text", headers={"Host": host}).status_code == 200
    else:
        behind_proxy = _send(client, host, case)
    answer = expected(function, kind, mode, case)
    fault = ADAPTER_FAULTS.get((function, mode, case.id))
    if fault:
        assert comparable(behind_proxy, answer) != answer, f"fixed? {fault}"
    else:
        assert comparable(behind_proxy, answer) == answer


@pytest.mark.parametrize(
    ("mode", "resource", "route_key"),
    [("v1", "/site/{siteSlug}", None), ("v2", None, "ANY /site/{siteSlug}")],
)
def test_regex_route_gives_the_resource_and_path_parameters(
    client: httpx.Client, mode: str, resource: str | None, route_key: str | None
) -> None:
    # Kong issue #14836: resource /site/{siteSlug}, not the literal path
    answer = client.get("/site/my%20blog", headers={"Host": f"regex.{mode}.test"})
    assert answer.json() == {
        "slug": "my blog",
        "resource": resource,
        "routeKey": route_key,
        "pathParameters": {"siteSlug": "my blog"},
    }


def test_functions_file_declares_every_app() -> None:
    declared = yaml.safe_load((WEBAPPS / "functions.yaml").read_text())["functions"]
    assert set(declared) == {name for name, _, _, _ in APPS}
    for name, handler_module, _, _ in APPS:
        assert declared[name]["handler"] == f"{handler_module}.py:handler"
        assert (Path(WEBAPPS) / f"{handler_module}.py").is_file()

"""key-auth / basic-auth consumers and consumer-scoped aws-lambda plugins, through the
addon's requestheaders hook (mitmproxy's taddons and tflow). Messages and headers are
Kong 3.10's (kong/plugins/key-auth/handler.lua, kong/plugins/basic-auth/access.lua)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from mitmproxy import http
from mitmproxy.addons.proxyserver import Proxyserver
from mitmproxy.test import taddons, tflow

from lambdaroute.addon import LambdaRoute

LAMBDA = "{function_name: %s, aws_region: us-east-1}"

CONFIG = f"""
_format_version: "3.0"
services:
  - name: svc
    host: svc.internal
    routes:
      - name: keyed
        paths: [/keyed]
        plugins:
          - {{name: key-auth, config: {{key_names: [apikey, x-api-key], hide_credentials: true}}}}
          - {{name: aws-lambda, config: {LAMBDA % "route-fn"}}}
      - name: basic
        paths: [/basic]
        plugins:
          - {{name: basic-auth}}
          - {{name: aws-lambda, config: {LAMBDA % "route-fn"}}}
      - name: passthrough
        paths: [/passthrough]
        plugins: [{{name: key-auth, config: {{realm: api}}}}]
      - name: anonymous
        paths: [/anonymous]
        plugins:
          - {{name: key-auth, config: {{anonymous: guest}}}}
          - {{name: basic-auth, config: {{anonymous: guest}}}}
          - {{name: aws-lambda, config: {LAMBDA % "route-fn"}}}
      - name: open
        paths: [/open]
        plugins: [{{name: aws-lambda, config: {LAMBDA % "open-fn"}}}]
      - name: https-only-plugin
        paths: [/tls]
        plugins:
          - {{name: key-auth}}
          - {{name: aws-lambda, protocols: [https], config: {LAMBDA % "tls-fn"}}}
consumers:
  - username: alice
    custom_id: A-1
    keyauth_credentials: [{{key: alice-key, id: 6f1b9e6e-3f0a-4a62-9a8e-0d9c7d1f2a10}}]
    plugins: [{{name: aws-lambda, config: {LAMBDA % "alice-fn"}}}]
  - username: bob
    basicauth_credentials: [{{username: bob, password: "s3cr:et"}}]
  - username: carol
  - username: guest
plugins:
  - {{name: aws-lambda, consumer: bob, service: svc, config: {LAMBDA % "bob-svc-fn"}}}
  - {{name: aws-lambda, consumer: guest, config: {LAMBDA % "guest-fn"}}}
  - {{name: aws-lambda, consumer: carol, route: basic, config: {LAMBDA % "carol-fn"}}}
keyauth_credentials:
  - {{consumer: carol, key: carol-key}}
basicauth_credentials:
  - {{consumer: carol, username: carol, password: pw}}
"""


@pytest.fixture
def addon(tmp_path: Path) -> Iterator[LambdaRoute]:
    path = tmp_path / "kong.yaml"
    path.write_text(CONFIG)
    addon = LambdaRoute()
    with taddons.context(Proxyserver(), addon) as tctx:
        tctx.configure(addon, lambda_config=str(path))
        assert addon.config is not None
        yield addon


def run(
    addon: LambdaRoute, path: str, headers: dict[str, str] | None = None, method: str = "GET"
) -> http.HTTPFlow:
    flow = tflow.tflow()
    flow.request.host = flow.request.host_header = "api.example.test"
    flow.request.path, flow.request.method = path, method
    for name, value in (headers or {}).items():
        flow.request.headers[name] = value
    addon.requestheaders(flow)
    return flow


def function(addon: LambdaRoute, flow: http.HTTPFlow) -> str | None:
    assert flow.response is None
    routed = addon._matches.get(flow)
    return routed.plugin.function_name if routed else None


def rejected(flow: http.HTTPFlow, message: str, www_authenticate: str) -> bool:
    assert flow.response is not None
    assert flow.response.status_code == 401
    document = flow.response.json()
    assert document == {"message": message, "request_id": document["request_id"]}
    assert len(document["request_id"]) == 32
    assert flow.response.headers["content-type"] == "application/json; charset=utf-8"
    assert flow.response.headers["www-authenticate"] == www_authenticate
    return True


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_key_auth_consumer_plugin_beats_the_route_plugin(addon: LambdaRoute) -> None:
    flow = run(addon, "/keyed/x?apikey=alice-key&q=1")
    assert function(addon, flow) == "alice-fn"
    # hide_credentials: the event never sees the key; Kong's consumer headers are set
    assert flow.request.query.get("apikey") is None and flow.request.query["q"] == "1"
    assert flow.request.headers["x-consumer-username"] == "alice"
    assert flow.request.headers["x-consumer-custom-id"] == "A-1"
    assert flow.request.headers["x-credential-identifier"] == "6f1b9e6e-3f0a-4a62-9a8e-0d9c7d1f2a10"
    assert "x-anonymous-consumer" not in flow.request.headers


def test_key_in_a_header_named_by_key_names(addon: LambdaRoute) -> None:
    flow = run(addon, "/keyed", {"X-Api-Key": "carol-key"})
    assert function(addon, flow) == "route-fn"  # carol's plugin is scoped to route basic
    assert "x-api-key" not in flow.request.headers  # hide_credentials


def test_key_auth_rejections(addon: LambdaRoute) -> None:
    assert rejected(run(addon, "/keyed"), "No API key found in request", "Key")
    assert rejected(run(addon, "/keyed?apikey="), "No API key found in request", "Key")
    assert rejected(run(addon, "/keyed?apikey=nope"), "Unauthorized", "Key")
    assert rejected(
        run(addon, "/keyed?apikey=alice-key&apikey=carol-key"), "Duplicate API key found", "Key"
    )
    assert addon._matches == {}


def test_auth_rejects_on_routes_without_aws_lambda(addon: LambdaRoute) -> None:
    assert rejected(run(addon, "/passthrough"), "No API key found in request", 'Key realm="api"')
    flow = run(addon, "/passthrough", {"apikey": "carol-key"})
    assert function(addon, flow) is None  # authenticated, then goes to the origin
    assert flow.request.headers["apikey"] == "carol-key"  # hide_credentials is off
    # alice's consumer-scoped plugin applies wherever she is identified (as in Kong)
    assert function(addon, run(addon, "/passthrough", {"apikey": "alice-key"})) == "alice-fn"


def test_basic_auth(addon: LambdaRoute) -> None:
    assert function(addon, run(addon, "/basic", {"Authorization": basic("bob", "s3cr:et")})) == (
        "bob-svc-fn"  # consumer+service beats the route's own plugin
    )
    assert function(addon, run(addon, "/basic", {"Authorization": basic("carol", "pw")})) == (
        "carol-fn"
    )
    proxy = run(addon, "/basic", {"Proxy-Authorization": basic("bob", "s3cr:et")})
    assert function(addon, proxy) == "bob-svc-fn"
    realm = 'Basic realm="service"'
    assert rejected(run(addon, "/basic"), "Unauthorized", realm)
    assert rejected(
        run(addon, "/basic", {"Authorization": basic("bob", "wrong")}), "Unauthorized", realm
    )
    assert rejected(
        run(addon, "/basic", {"Authorization": basic("eve", "x")}), "Unauthorized", realm
    )
    assert rejected(run(addon, "/basic", {"Authorization": "Basic !!!"}), "Unauthorized", realm)
    assert rejected(run(addon, "/basic", {"Authorization": "Bearer t"}), "Unauthorized", realm)


def test_anonymous_consumer_and_logical_or(addon: LambdaRoute) -> None:
    anonymous = run(addon, "/anonymous")
    assert function(addon, anonymous) == "guest-fn"
    assert anonymous.request.headers["x-anonymous-consumer"] == "true"
    assert anonymous.request.headers["x-consumer-username"] == "guest"
    # key-auth found alice: basic-auth (anonymous set) does not run again
    assert function(addon, run(addon, "/anonymous?apikey=alice-key")) == "alice-fn"
    # key-auth fell back to guest, basic-auth then identifies bob
    bob = run(addon, "/anonymous", {"Authorization": basic("bob", "s3cr:et")})
    assert function(addon, bob) == "bob-svc-fn"
    assert "x-anonymous-consumer" not in bob.request.headers


def test_routes_without_auth_plugins_never_see_consumers(addon: LambdaRoute) -> None:
    flow = run(addon, "/open?apikey=alice-key")
    assert function(addon, flow) == "open-fn"
    assert "x-consumer-username" not in flow.request.headers


def test_plugin_protocols(addon: LambdaRoute) -> None:
    plain = run(addon, "/tls?apikey=carol-key")
    assert function(addon, plain) is None  # protocols: [https], the request is http
    secure = tflow.tflow(client_conn=tflow.tclient_conn())
    secure.client_conn.tls = True
    secure.request.host = secure.request.host_header = "api.example.test"
    secure.request.path = "/tls?apikey=carol-key"
    addon.requestheaders(secure)
    assert function(addon, secure) == "tls-fn"


def test_anonymous_must_exist(tmp_path: Path) -> None:
    from lambdaroute.config import ConfigError, load_config

    path = tmp_path / "kong.yaml"
    path.write_text('_format_version: "3.0"\nplugins: [{name: key-auth, config: {anonymous: x}}]\n')
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    assert info.value.field == "config.anonymous"
    assert "anonymous consumer 'x' does not exist" in str(info.value)


def test_duplicate_keys_are_errors_that_do_not_show_the_key(tmp_path: Path) -> None:
    from lambdaroute.config import ConfigError, load_config

    path = tmp_path / "kong.yaml"
    path.write_text(
        '_format_version: "3.0"\n'
        "consumers: [{username: a, keyauth_credentials: [{key: topsecret}]}]\n"
        "keyauth_credentials: [{consumer: a, key: topsecret}]\n"
    )
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    assert "duplicate key" in str(info.value) and "topsecret" not in str(info.value)


def test_auth_plugins_cannot_be_consumer_scoped(tmp_path: Path) -> None:
    from lambdaroute.config import ConfigError, load_config

    path = tmp_path / "kong.yaml"
    path.write_text(
        '_format_version: "3.0"\nconsumers: [{username: a, plugins: [{name: basic-auth}]}]\n'
    )
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    assert (info.value.field, info.value.message) == ("consumer", "value must be null")


def test_credentials_from_vault_references_and_bad_shapes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lambdaroute.config import ConfigError, load_config

    monkeypatch.setenv("PARTNER_KEY", "from-the-environment")
    path = tmp_path / "kong.yaml"
    path.write_text(
        '_format_version: "3.0"\n'
        'consumers: [{username: p, keyauth_credentials: [{key: "{vault://env/partner-key}"}]}]\n'
    )
    keys = load_config(str(path)).credentials.keys
    assert list(keys) == ["from-the-environment"]
    path.write_text('_format_version: "3.0"\nconsumers: [{username: p, keyauth_credentials: {}}]\n')
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    assert (info.value.field, info.value.message) == ("keyauth_credentials", "expected an array")
    path.write_text(
        '_format_version: "3.0"\n'
        "basicauth_credentials: [{consumer: nobody, username: u, password: p}]\n"
    )
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    assert "refers to consumer 'nobody' which does not exist" in str(info.value)

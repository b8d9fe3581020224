"""The addon's hooks and options, with mitmproxy's own test helpers."""

from __future__ import annotations

import base64
import logging
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from mitmproxy.addons.proxyserver import Proxyserver
from mitmproxy.proxy import mode_specs
from mitmproxy.test import taddons, tflow

from lambdaroute.addon import METADATA_KEY, LambdaRoute
from lambdaroute.intake_types import TOKEN_HEADER
from tests.fakeaws import FakeLambda, KeyStore, server_ssl_context
from tests.local_lambda_fixtures import LocalLambdaServer, start_local_lambda
from tests.mitmdump_process import free_port

CONFIG = """\
_format_version: "3.0"
services:
  - name: api
    host: upstream.test
    routes:
      - name: orders
        hosts: [api.example.test]
        paths: [/orders]
        plugins:
          - name: aws-lambda
            config: {function_name: orders, aws_region: us-east-1, aws_key: k, aws_secret: s}
      - name: plain
        paths: [/plain]
plugins:
  - name: rate-limiting
    config: {minute: 5}
"""


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    return write(tmp_path / "kong.yaml", CONFIG)


def flow_for(host: str, path: str, method: str = "GET"):
    flow = tflow.tflow()
    flow.request.host = host
    flow.request.host_header = host
    flow.request.path = path
    flow.request.method = method
    return flow


def test_idle_without_lambda_config() -> None:
    addon = LambdaRoute()
    with taddons.context(Proxyserver(), addon):
        flow = flow_for("api.example.test", "/orders")
        addon.requestheaders(flow)
        assert addon.router is None
        assert flow.response is None
        assert not flow.request.stream


def test_loads_config_and_warns_once_about_other_plugins(config_file: Path, caplog) -> None:
    caplog.set_level(logging.INFO)
    addon = LambdaRoute()
    with taddons.context(Proxyserver(), addon) as tctx:
        tctx.configure(addon, lambda_config=str(config_file))
        assert addon.router is not None
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert len([w for w in warnings if "rate-limiting" in w]) == 1


def test_bad_config_names_file_entity_and_field_without_traceback(tmp_path: Path, caplog) -> None:
    bad = write(
        tmp_path / "bad.yaml",
        """\
        _format_version: "3.0"
        routes:
          - name: orders
            paths: [/orders]
            plugins:
              - name: aws-lambda
                config: {function_name: f, unhandled_status: 42}
        """,
    )
    addon = LambdaRoute()
    with taddons.context(Proxyserver(), addon) as tctx:
        tctx.configure(addon, lambda_config=str(bad))
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    message = errors[0].getMessage()
    assert str(bad) in message
    assert "orders" in message
    assert "unhandled_status" in message
    assert "value should be between 100 and 999" in message
    assert errors[0].exc_info is None
    assert addon.router is None


def test_failed_reload_keeps_the_last_good_config(
    config_file: Path, tmp_path: Path, caplog
) -> None:
    addon = LambdaRoute()
    with taddons.context(Proxyserver(), addon) as tctx:
        tctx.configure(addon, lambda_config=str(config_file))
        good = addon.config
        broken = write(tmp_path / "broken.yaml", "_format_version: '3.0'\nroutes: [{name: x}\n")
        tctx.configure(addon, lambda_config=str(broken))
        assert addon.config is good
        assert any("keeping the last good config" in r.getMessage() for r in caplog.records)
        flow = flow_for("api.example.test", "/orders")
        addon.requestheaders(flow)
        assert flow.request.stream is False
        assert flow in addon._matches


def test_reload_command_picks_up_changes(config_file: Path) -> None:
    addon = LambdaRoute()
    with taddons.context(Proxyserver(), addon) as tctx:
        tctx.configure(addon, lambda_config=str(config_file))
        config_file.write_text(CONFIG.replace("/orders", "/invoices"))
        tctx.command(addon.reload)
        flow = flow_for("api.example.test", "/invoices")
        addon.requestheaders(flow)
        assert flow in addon._matches


def test_routed_flows_are_not_streamed_and_unrouted_are_untouched(config_file: Path) -> None:
    addon = LambdaRoute()
    with taddons.context(Proxyserver(), addon) as tctx:
        tctx.configure(addon, lambda_config=str(config_file))
        routed = flow_for("api.example.test", "/orders/17?x=1", method="POST")
        routed.request.stream = True
        addon.requestheaders(routed)
        assert routed.request.stream is False
        assert addon._matches[routed].match.route.name == "orders"

        for flow in (
            flow_for("other.test", "/orders"),  # host does not match
            flow_for("api.example.test", "/plain"),  # route without an aws-lambda plugin
        ):
            before = flow.request.get_state()
            addon.requestheaders(flow)
            assert flow not in addon._matches
            assert flow.request.get_state() == before


def test_lazy_connections_are_forced_and_said(config_file: Path, caplog) -> None:
    caplog.set_level(logging.INFO)
    addon = LambdaRoute()
    with taddons.context(Proxyserver(), addon) as tctx:
        assert tctx.options.connection_strategy == "eager"
        tctx.configure(addon, lambda_config=str(config_file))
        assert tctx.options.connection_strategy == "lazy"
        assert any("connection_strategy=lazy" in r.getMessage() for r in caplog.records)


def test_reverse_mode_keeps_client_host_for_routing_and_restores_it_for_others(
    config_file: Path, caplog
) -> None:
    caplog.set_level(logging.INFO)
    addon = LambdaRoute()
    with taddons.context(Proxyserver(), addon) as tctx:
        tctx.configure(addon, mode=["reverse:http://upstream.test:8080"])
        tctx.configure(addon, lambda_config=str(config_file))
        assert tctx.options.keep_host_header is True
        assert any("keep_host_header" in r.getMessage() for r in caplog.records)

        reverse = mode_specs.ProxyMode.parse("reverse:http://upstream.test:8080")
        unrouted = flow_for("api.example.test", "/elsewhere")
        unrouted.client_conn.proxy_mode = reverse
        unrouted.server_conn.address = ("upstream.test", 8080)
        unrouted.server_conn.tls = False
        addon.requestheaders(unrouted)
        assert unrouted.request.host_header == "upstream.test:8080"

        routed = flow_for("api.example.test", "/orders")
        routed.client_conn.proxy_mode = reverse
        addon.requestheaders(routed)
        assert routed.request.host_header == "api.example.test"
        assert routed in addon._matches


def test_user_keep_host_header_is_respected(config_file: Path) -> None:
    addon = LambdaRoute()
    with taddons.context(Proxyserver(), addon) as tctx:
        tctx.configure(addon, mode=["reverse:http://upstream.test:8080"], keep_host_header=True)
        tctx.configure(addon, lambda_config=str(config_file))
        flow = flow_for("api.example.test", "/elsewhere")
        flow.client_conn.proxy_mode = mode_specs.ProxyMode.parse("reverse:http://upstream.test")
        addon.requestheaders(flow)
        assert flow.request.host_header == "api.example.test"


def test_invalid_body_buffer_size_is_reported_and_ignored(caplog) -> None:
    addon = LambdaRoute()
    with taddons.context(Proxyserver(), addon) as tctx:
        tctx.configure(addon, lambda_body_buffer_size="8k")
        assert addon.body_buffer_size == 8 * 1024
        tctx.configure(addon, lambda_body_buffer_size="lots")
        assert addon.body_buffer_size == 8 * 1024
        assert any("lambda_body_buffer_size" in r.getMessage() for r in caplog.records)


HTTPS_ONLY = """\
_format_version: "3.0"
routes:
  - name: secure
    paths: [/secure]
    protocols: [https]
    https_redirect_status_code: {code}
    plugins:
      - name: aws-lambda
        config: {{function_name: f, aws_region: us-east-1}}
consumers:
  - username: alice
    plugins:
      - name: aws-lambda
        config: {{function_name: alice-only, aws_region: us-east-1}}
"""


@pytest.mark.parametrize("code", [426, 301, 308])
def test_https_only_routes_over_http_get_kongs_answer(tmp_path: Path, code: int) -> None:
    config = write(tmp_path / "kong.yaml", HTTPS_ONLY.format(code=code))
    addon = LambdaRoute()
    with taddons.context(Proxyserver(), addon) as tctx:
        tctx.configure(addon, lambda_config=str(config))
        flow = flow_for("api.example.test", "/secure/x?y=1")
        addon.requestheaders(flow)
        assert flow.response is not None
        assert flow.response.status_code == code
        assert flow not in addon._matches
        if code == 426:
            assert flow.response.json() == {"message": "Please use HTTPS protocol"}
            assert flow.response.headers["upgrade"] == "TLS/1.2, HTTP/1.1"
        else:
            assert flow.response.headers["location"] == "https://api.example.test/secure/x?y=1"


def test_config_warnings_are_logged_once_per_distinct_set(tmp_path: Path, caplog) -> None:
    config = write(
        tmp_path / "kong.yaml", HTTPS_ONLY.format(code=426) + "plugins: [{name: cors}]\n"
    )
    addon = LambdaRoute()
    with taddons.context(Proxyserver(), addon) as tctx:
        tctx.configure(addon, lambda_config=str(config))
        addon.reload()
        addon.reload()
        ignoring = [r for r in caplog.records if "ignoring: cors" in r.getMessage()]
        assert len(ignoring) == 1 and ignoring[0].levelno == logging.WARNING
        config.write_text(
            config.read_text().replace("{name: cors}", "{name: cors}, {name: prometheus}")
        )
        addon.reload()
        assert any("ignoring: cors, prometheus" in r.getMessage() for r in caplog.records)
    assert not any("consumer-scoped" in r.getMessage() for r in caplog.records)


@pytest.fixture(scope="module")
def echo_server() -> Iterator[LocalLambdaServer]:
    functions = Path(__file__).parent / "e2e_functions" / "functions.yaml"
    with start_local_lambda(functions, access_key="k", secret_key="s") as server:
        yield server


def routed_config(tmp_path: Path, port: int, **plugin_config: object) -> Path:
    config = {
        "function_name": "echo",
        "aws_region": "us-east-1",
        "aws_key": "k",
        "aws_secret": "s",
        "host": "127.0.0.1",
        "port": port,
        "disable_https": True,
        **plugin_config,
    }
    document = {
        "_format_version": "3.0",
        "routes": [
            {"name": "r", "paths": ["/"], "plugins": [{"name": "aws-lambda", "config": config}]}
        ],
    }
    return write(tmp_path / "kong.yaml", yaml.safe_dump(document))


async def test_request_hook_answers_the_flow_and_records_it(
    tmp_path: Path, echo_server: LocalLambdaServer
) -> None:
    addon = LambdaRoute()
    with taddons.context(Proxyserver(), addon) as tctx:
        tctx.configure(
            addon, lambda_config=str(routed_config(tmp_path, echo_server.port, qualifier="live"))
        )
        flow = flow_for("api.example.test", "/orders?id=7")
        addon.requestheaders(flow)
        await addon.request(flow)
        await addon.client.close()
    assert flow.response is not None
    assert flow.response.status_code == 200
    assert flow.response.json() == {"id": "7"}
    assert "x-amz-log-result" not in flow.response.headers
    record = flow.metadata["lambda_route"]
    assert record["route"] == "r"
    assert record["function"] == "echo"
    assert record["qualifier"] == "live"
    assert record["executed_version"] == "1"
    assert record["lambda_status"] == 200
    assert "echo invoked as echo" in record["logs"]
    assert flow.comment.startswith("lambda-route: r -> echo:live (200) -> 200")


async def test_request_hook_turns_failures_into_json_errors(tmp_path: Path) -> None:
    addon = LambdaRoute()
    with taddons.context(Proxyserver(), addon) as tctx:
        closed = routed_config(tmp_path, free_port())
        tctx.configure(addon, lambda_config=str(closed))
        flow = flow_for("api.example.test", "/x")
        addon.requestheaders(flow)
        await addon.request(flow)
        await addon.client.close()
    assert flow.response is not None
    assert flow.response.status_code == 502
    document = flow.response.json()
    assert document["message"] == "Bad Gateway"
    assert document["request_id"] == flow.metadata["lambda_route"]["request_id"]
    assert flow.metadata["lambda_route"]["lambda_status"] is None


class ExplodingRouter:
    def match(self, **request: object) -> None:
        raise RuntimeError("a bug in routing")


def test_no_hook_raises_a_routing_bug_passes_the_flow_through(config_file: Path, caplog) -> None:
    addon = LambdaRoute()
    with taddons.context(Proxyserver(), addon) as tctx:
        tctx.configure(addon, lambda_config=str(config_file))
        addon.router = ExplodingRouter()  # type: ignore[assignment]
        flow = flow_for("api.example.test", "/orders")
        addon.requestheaders(flow)
    assert flow.response is None
    assert flow not in addon._matches
    assert any("routing failed" in r.getMessage() for r in caplog.records)


async def test_body_over_the_buffer_size_goes_to_the_intake_and_is_dropped_and_logged(
    tmp_path: Path, echo_server: LocalLambdaServer, caplog
) -> None:
    config = routed_config(tmp_path, echo_server.port, forward_request_body=True)
    addon = LambdaRoute()
    with taddons.context(Proxyserver(), addon) as tctx:
        tctx.configure(addon, lambda_config=str(config), lambda_body_buffer_size="8k")
        await addon.intake.start()
        small, large = flow_for("a.test", "/small"), flow_for("a.test", "/large")
        small.request.content = b"x" * 1024
        large.request.content = b"x" * 32 * 1024
        for flow in (small, large):
            flow.request.method = "POST"
            addon.requestheaders(flow)
        await addon.request(small)  # the fast path: answered in place
        # the large one is pointed at the intake endpoint, streamed, never upstream
        assert addon.request(large) is None
        assert large.request.stream and large.request.host == "127.0.0.1"
        assert large.server_conn.address == ("127.0.0.1", addon.intake.port)
        assert large.server_conn.via is None
        async with httpx.AsyncClient() as http:  # what mitmproxy does with the flow
            answer = await http.post(
                f"http://127.0.0.1:{addon.intake.port}/large",
                content=large.request.raw_content,
                headers=dict(large.request.headers),
            )
        assert large.request.host == "a.test" and TOKEN_HEADER not in large.request.headers
        addon.response(large)
        addon.intake.close()
        await addon.client.close()
    assert small.response.json()["request_body"] == base64.b64encode(b"x" * 1024).decode()
    assert answer.json()["request_body"] == ""  # Kong: base64(nil) == ""
    assert large.response.json()["request_body"] == ""
    skipped = [r.getMessage() for r in caplog.records if "skip_large_bodies" in r.getMessage()]
    assert len(skipped) == 1
    assert "/large" in skipped[0] and "32.0k" in skipped[0]


async def test_a_big_body_right_after_start_up_waits_for_the_intake_endpoint(
    tmp_path: Path, echo_server: LocalLambdaServer
) -> None:
    """Before, a flow that came while the endpoint was still starting got a 502 set in
    ``requestheaders``, and mitmproxy, already streaming its body, crashed the connection."""
    config = routed_config(tmp_path, echo_server.port, forward_request_body=True)
    addon = LambdaRoute()
    with taddons.context(Proxyserver(), addon) as tctx:
        tctx.configure(addon, lambda_config=str(config), lambda_body_buffer_size="8k")
        assert addon.intake.port is None
        large = flow_for("a.test", "/large", method="POST")
        large.request.content = b"x" * 32 * 1024
        large.request.stream = True  # as mitmproxy's stream_large_bodies check leaves it
        waiting = addon.requestheaders(large)
        assert waiting is not None and large.response is None
        await waiting
        assert addon.intake.port is not None
        assert large.response is None and large.request.stream
        assert large.server_conn.address == ("127.0.0.1", addon.intake.port)
        addon.intake.close()
        await addon.client.close()


async def test_a_refused_body_is_recorded_on_the_flow(
    tmp_path: Path, echo_server: LocalLambdaServer
) -> None:
    """The early 413 shows in mitmweb like any other failed call (metadata, mark, comment)."""
    config = routed_config(
        tmp_path, echo_server.port, forward_request_body=True, skip_large_bodies=False
    )
    addon = LambdaRoute()
    with taddons.context(Proxyserver(), addon) as tctx:
        tctx.configure(addon, lambda_config=str(config), lambda_max_request_body="8k")
        await addon.intake.start()
        large = flow_for("a.test", "/large", method="POST")
        large.request.content = b"x" * 32 * 1024
        addon.requestheaders(large)
        async with httpx.AsyncClient() as http:  # what mitmproxy does with the flow
            answer = await http.post(
                f"http://127.0.0.1:{addon.intake.port}/large",
                content=large.request.raw_content,
                headers=dict(large.request.headers),
            )
        addon.response(large)
        addon.intake.close()
        await addon.client.close()
    assert answer.status_code == 413
    record = large.metadata[METADATA_KEY]
    assert record["status"] == 413 and "lambda_max_request_body" in record["error"]
    assert record["lambda_status"] is None and large.marked
    assert "-> 413" in large.comment


async def test_tls_is_verified_unless_ssl_insecure(tmp_path: Path) -> None:
    keys = KeyStore()
    keys.add("k", "s")
    server = FakeLambda(keys, ssl_context=server_ssl_context(tmp_path))
    await server.start()
    config = routed_config(tmp_path, server.port, disable_https=False)
    try:
        for insecure, status in ((False, 502), (True, 200)):
            addon = LambdaRoute()
            with taddons.context(Proxyserver(), addon) as tctx:
                tctx.configure(addon, ssl_insecure=insecure)
                tctx.configure(addon, lambda_config=str(config))
                flow = flow_for("a.test", "/x")
                addon.requestheaders(flow)
                await addon.request(flow)
                await addon.client.close()
            assert flow.response.status_code == status, flow.response.text
            if status == 502:
                assert "certificate" in flow.response.json()["error"].lower()
    finally:
        await server.close()

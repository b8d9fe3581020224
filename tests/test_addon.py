"""The addon's hooks and options, with mitmproxy's own test helpers."""

from __future__ import annotations

import logging
import textwrap
from pathlib import Path

import pytest
from mitmproxy.addons.proxyserver import Proxyserver
from mitmproxy.proxy import mode_specs
from mitmproxy.test import taddons, tflow

from lambdaroute.addon import LambdaRoute

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
        assert addon._matches[routed].route.name == "orders"

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

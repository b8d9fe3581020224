"""A routed flow's record, comment, mark and log, and the function-error answers: the
addon's hooks with mitmproxy's test helpers and the real local Lambda server."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from mitmproxy.addons.proxyserver import Proxyserver
from mitmproxy.test import taddons, tflow

from lambdaroute.addon import LambdaRoute
from lambdaroute.flowrecord import MARK_ANSWERED, MARK_FAILED, VIEW_BYTES_LIMIT
from tests.local_lambda_fixtures import LocalLambdaServer, start_local_lambda

FUNCTIONS = Path(__file__).parent / "flow_functions" / "functions.yaml"


@pytest.fixture(scope="module")
def server() -> Iterator[LocalLambdaServer]:
    with start_local_lambda(FUNCTIONS, access_key="k", secret_key="s") as running:
        yield running


def write_config(tmp_path: Path, port: int, **plugin: Any) -> Path:
    config = {
        "aws_region": "us-east-1",
        "aws_key": "k",
        "aws_secret": "s",
        "host": "127.0.0.1",
        "port": port,
        "disable_https": True,
        **plugin,
    }
    document = {
        "_format_version": "3.0",
        "routes": [
            {"name": "pay", "paths": ["/"], "plugins": [{"name": "aws-lambda", "config": config}]}
        ],
    }
    path = tmp_path / "kong.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


async def answer(tmp_path: Path, port: int, body: bytes = b"", **plugin: Any) -> Any:
    addon = LambdaRoute()
    with taddons.context(Proxyserver(), addon) as tctx:
        tctx.configure(addon, lambda_config=str(write_config(tmp_path, port, **plugin)))
        flow = tflow.tflow()
        flow.request.path = "/pay?order=7"
        flow.request.content = body
        flow.request.headers["content-type"] = "application/json"
        addon.requestheaders(flow)
        await addon.request(flow)
        assert addon.client is not None
        await addon.client.close()
    return flow


PROXY_MODES = [
    {"is_proxy_integration": True},
    {"is_proxy_integration": True, "awsgateway_compatible": True},
    {
        "is_proxy_integration": True,
        "awsgateway_compatible": True,
        "awsgateway_compatible_payload_version": "2.0",
    },
    {"is_proxy_integration": True, "alb_target_compatible": True},
]


@pytest.mark.parametrize("mode", PROXY_MODES, ids=["kong", "v1", "v2", "alb"])
async def test_proxy_integration_function_error_is_a_502_naming_the_error(
    tmp_path: Path, server: LocalLambdaServer, mode: dict[str, Any], caplog
) -> None:
    caplog.set_level(logging.INFO)
    flow = await answer(tmp_path, server.port, function_name="declined", **mode)
    assert flow.response.status_code == 502
    document = flow.response.json()
    assert document["message"] == "Bad Gateway"
    assert document["errorType"] == "PaymentDeclined"
    assert document["errorMessage"] == "card declined: insufficient funds"
    assert document["function_error"] == "Unhandled"
    assert "PaymentDeclined: card declined" in document["error"]
    assert "could not JSON decode" not in flow.response.text  # never parsed as a response
    assert "Traceback" not in flow.response.text and "handlers.py" not in flow.response.text
    assert document["lambda_request_id"] == flow.metadata["lambda_route"]["lambda_request_id"]

    record = flow.metadata["lambda_route"]
    assert record["function_error"] == "Unhandled"
    assert record["error_type"] == "PaymentDeclined"
    assert record["error_message"] == "card declined: insufficient funds"
    assert any("handlers.py" in line for line in record["stack_trace"])
    assert "charging card 4242" in record["logs"]
    assert "(200 Unhandled PaymentDeclined: card declined: insufficient funds) -> 502" in (
        flow.comment
    )
    assert flow.marked == MARK_FAILED

    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "function error Unhandled PaymentDeclined: card declined" in warning
    assert "handlers.py" in warning  # the stack trace
    assert "charging card 4242" in warning  # the log tail


async def test_unhandled_status_gives_the_proxy_integration_error_status(
    tmp_path: Path, server: LocalLambdaServer
) -> None:
    flow = await answer(
        tmp_path, server.port, function_name="declined", is_proxy_integration=True,
        unhandled_status=402,
    )  # fmt: skip
    assert flow.response.status_code == 402
    assert flow.response.json()["errorType"] == "PaymentDeclined"
    assert flow.metadata["lambda_route"]["status"] == 402


@pytest.mark.parametrize(("unhandled_status", "status"), [(None, 200), (503, 503)])
async def test_plain_route_keeps_kongs_answer_and_records_the_error(
    tmp_path: Path, server: LocalLambdaServer, unhandled_status: int | None, status: int
) -> None:
    config: dict[str, Any] = {"function_name": "declined"}
    if unhandled_status:
        config["unhandled_status"] = unhandled_status
    flow = await answer(tmp_path, server.port, **config)
    assert flow.response.status_code == status
    assert flow.response.headers["x-amz-function-error"] == "Unhandled"
    assert flow.response.json()["errorType"] == "PaymentDeclined"  # the error payload itself
    record = flow.metadata["lambda_route"]
    assert (record["function_error"], record["error_type"]) == ("Unhandled", "PaymentDeclined")
    assert record["stack_trace"]
    assert f"(200 Unhandled PaymentDeclined: card declined: insufficient funds) -> {status}" in (
        flow.comment
    )


async def test_a_routed_flow_is_marked_and_keeps_what_the_view_needs(
    tmp_path: Path, server: LocalLambdaServer
) -> None:
    flow = await answer(tmp_path, server.port, body=b'{"a":1}', function_name="echo")
    assert flow.marked == MARK_ANSWERED
    record = flow.metadata["lambda_route"]
    assert json.loads(record["payload"]) == {"order": "7", "a": 1}
    assert record["payload_size"] == len(record["payload"].encode())
    assert json.loads(record["result"]) == {"order": "7", "a": 1}
    assert record["invoke_ms"] > 0 and record["duration_ms"] >= record["invoke_ms"]
    assert record["function_error"] is None and record["error"] is None
    assert record["payload_mode"] == "Kong default (query args + body)"


async def test_big_payloads_and_results_are_kept_only_up_to_the_bound(
    tmp_path: Path, server: LocalLambdaServer
) -> None:
    big = json.dumps({"blob": "x" * (3 * VIEW_BYTES_LIMIT)}).encode()
    flow = await answer(tmp_path, server.port, body=big, function_name="echo")
    record = flow.metadata["lambda_route"]
    assert flow.response.status_code == 200
    assert len(flow.response.content) > 3 * VIEW_BYTES_LIMIT  # the client gets it all
    assert record["payload_size"] > 3 * VIEW_BYTES_LIMIT
    assert record["result_size"] > 3 * VIEW_BYTES_LIMIT
    assert len(record["payload"].encode()) <= VIEW_BYTES_LIMIT
    assert len(record["result"].encode()) <= VIEW_BYTES_LIMIT


async def test_a_failed_invocation_records_and_comments_its_cause(tmp_path: Path) -> None:
    from tests.mitmdump_process import free_port

    flow = await answer(tmp_path, free_port(), function_name="echo")
    record = flow.metadata["lambda_route"]
    assert flow.response.status_code == 502
    assert "cannot connect to 127.0.0.1" in record["error"]
    assert "failed: cannot connect to 127.0.0.1" in flow.comment
    assert flow.marked == MARK_FAILED


def test_lambda_routes_lists_routes_matches_and_functions(tmp_path: Path) -> None:
    document = {
        "_format_version": "3.0",
        "services": [
            {
                "name": "shop",
                "url": "http://127.0.0.1:9",
                "routes": [
                    {
                        "name": "orders",
                        "hosts": ["api.example.test"],
                        "paths": ["/orders"],
                        "methods": ["POST"],
                        "plugins": [
                            {
                                "name": "aws-lambda",
                                "config": {
                                    "function_name": "orders",
                                    "qualifier": "live",
                                    "aws_region": "eu-west-1",
                                    "awsgateway_compatible": True,
                                    "is_proxy_integration": True,
                                },
                            }
                        ],
                    },
                    {"name": "static", "paths": ["/static"]},
                ],
            }
        ],
    }
    path = tmp_path / "kong.yaml"
    path.write_text(yaml.safe_dump(document))
    addon = LambdaRoute()
    with taddons.context(Proxyserver(), addon) as tctx:
        assert tctx.master.commands.call("lambda.routes")[0].startswith("lambda-route is idle")
        tctx.configure(addon, lambda_config=str(path))
        lines = tctx.master.commands.call("lambda.routes")
    assert lines == [
        f"{path}: 1 of 2 routes go to Lambda",
        "orders: methods POST; hosts api.example.test; paths /orders -> Lambda orders:live"
        " @ eu-west-1 (API Gateway event 1.0, RequestResponse, proxy integration)",
        "static: paths /static -> no aws-lambda plugin (passed through)",
    ]


class _Records(logging.Handler):
    def __init__(self, level: int) -> None:
        super().__init__(level)
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.seen.append(record.getMessage())


def _record_with_log_tail(handlers: list[logging.Handler]) -> list[logging.LogRecord]:
    """The records ``record_flow`` builds for a flow with a log tail, with only
    ``handlers`` on the root logger."""
    from lambdaroute.config import LambdaPluginConfig
    from lambdaroute.flowrecord import record_flow
    from lambdaroute.invocation import InvokeResult
    from lambdaroute.responses import ShapedResponse

    root = logging.getLogger()
    built: list[logging.LogRecord] = []
    module_logger = logging.getLogger("lambdaroute.flowrecord")

    def count(record: logging.LogRecord) -> bool:
        built.append(record)
        return True

    saved_handlers, saved_level = root.handlers[:], root.level
    root.handlers[:] = handlers
    root.setLevel(logging.DEBUG)
    module_logger.addFilter(count)
    try:
        record_flow(
            tflow.tflow(),
            route_name="r",
            plugin=LambdaPluginConfig(function_name="echo"),
            request_id="id",
            payload=b"{}",
            result=InvokeResult(200, (), b"{}", 1.0, "echo", None),
            shaped=ShapedResponse(200, (), b"{}", function_logs="START handler said hi\n"),
            error=None,
            started=0.0,
        )
    finally:
        module_logger.removeFilter(count)
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
    return built


@pytest.mark.parametrize("level", [logging.INFO, logging.ERROR])
def test_the_function_log_tail_is_logged_only_when_a_handler_shows_info(level: int) -> None:
    """Every answered flow has a log tail (Kong's log_type Tail): it is formatted and logged
    for a handler that shows INFO, and not built at all when none does (``-q``)."""
    handler = _Records(level)
    built = _record_with_log_tail([handler])
    if level == logging.INFO:
        assert len(built) == 1 and "handler said hi" in handler.seen[0]
    else:
        assert built == [] and handler.seen == []


class _OldStyle:
    def add_log(self, entry: Any) -> None:
        pass


@pytest.mark.parametrize("with_add_log", [False, True])
def test_mitmdumps_add_log_events_take_the_log_tail_only_for_an_addon_with_add_log(
    with_add_log: bool,
) -> None:
    """mitmdump's master turns every log record into a deprecated ``add_log`` event for all
    addons: under ``-q`` (its terminal log shows errors only) the log tail is built only
    when an addon has ``add_log``."""
    addons: list[Any] = [LambdaRoute()] + ([_OldStyle()] if with_add_log else [])
    with taddons.context(*addons) as tctx:
        quiet_terminal = _Records(logging.ERROR)
        built = _record_with_log_tail([quiet_terminal, tctx.master._legacy_log_events])
    assert len(built) == (1 if with_add_log else 0)

"""The Node.js bootstrap against a Runtime API peer: AWS's Node.js runtime contract, buffered."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

from tests.local_lambda.node_harness import needs_node, node_runtime

pytestmark = needs_node


async def test_async_cjs_handler_gets_event_and_context(tmp_path: Path) -> None:
    async with node_runtime(tmp_path, "cjs", "index.handler") as node:
        invocation = node.peer.invoke(
            {"order": 7},
            timeout_s=30,
            headers={
                "Lambda-Runtime-Client-Context": '{"custom": {"a": 1}}',
                "Lambda-Runtime-Cognito-Identity": '{"cognitoIdentityId": "id-1"}',
            },
        )
        posted = await node.answer(invocation)
        assert posted.kind == "response"
        assert posted.headers["content-type"] == "application/json"
        result = posted.json()
        assert result["event"] == {"order": 7}
        assert result["awsRequestId"] == invocation.request_id
        assert (
            result["invokedFunctionArn"]
            == invocation.headers["Lambda-Runtime-Invoked-Function-Arn"]
        )
        assert result["traceId"] == invocation.headers["Lambda-Runtime-Trace-Id"]
        assert result["functionName"] == "orders"
        assert result["functionVersion"] == "$LATEST"
        assert result["memoryLimitInMB"] == "256"
        assert result["logGroupName"] == "/aws/lambda/orders"
        assert result["logStreamName"] == "2026/12/01/[$LATEST]abc"
        assert result["clientContext"] == {"custom": {"a": 1}}
        assert result["identity"] == {"cognitoIdentityId": "id-1"}
        assert 25_000 < result["remaining"] <= 30_000
        assert result["callbackWaitsForEmptyEventLoop"] is True
        # a warm process serves the next invocation
        second = await node.invoke({"order": 8})
        assert second.json()["event"] == {"order": 8}
        assert node.peer.next_calls >= 2


async def test_module_forms(tmp_path: Path) -> None:
    cases = [
        ("esm", "index.handler", {"kind": "esm", "loadedAt": "top-level await"}),
        ("esm_package", "index.handler", {"kind": "esm package", "module": "undefined"}),
        ("cjs_ext", "index.handler", {"kind": "cjs extension"}),
        ("cjs", "src/app.handler", {"kind": "subdirectory"}),
    ]
    for code, handler, expected in cases:
        async with node_runtime(tmp_path, code, handler) as node:
            result = (await node.invoke({"n": 1})).json()
            assert expected.items() <= result.items(), (code, result)
    async with node_runtime(tmp_path, "cjs", "index.nested.deeper.handler") as node:
        assert (await node.invoke({})).json() == "nested export"


async def test_callback_handlers(tmp_path: Path) -> None:
    async with node_runtime(tmp_path, "cjs", "index.callback") as node:
        assert (await node.invoke({"x": 1})).json() == {"kind": "callback", "event": {"x": 1}}
    async with node_runtime(tmp_path, "cjs", "index.twice") as node:
        assert (await node.invoke({})).json() == "first"
        assert (await node.invoke({})).json() == "first"
    async with node_runtime(tmp_path, "cjs", "index.forgetsCallback") as node:
        posted = await node.invoke({})
        assert (posted.kind, posted.body) == ("response", b"null")


async def test_callback_waits_for_empty_event_loop(tmp_path: Path) -> None:
    async with node_runtime(tmp_path, "cjs", "index.waits") as node:
        # by default the result goes out once the timer has run (and changed it) ...
        assert (await node.invoke({"wait": True})).json() == {"late": True}
        # ... with callbackWaitsForEmptyEventLoop = false, at once
        assert (await node.invoke({"wait": False})).json() == {"late": False}


async def test_legacy_context_methods(tmp_path: Path) -> None:
    async with node_runtime(tmp_path, "cjs", "index.succeed") as node:
        assert (await node.invoke({})).json() == {"legacy": "succeed"}
    async with node_runtime(tmp_path, "cjs", "index.done") as node:
        assert (await node.invoke({})).json() == {"legacy": "done"}
    async with node_runtime(tmp_path, "cjs", "index.fail") as node:
        posted = await node.invoke({})
        assert posted.kind == "error"
        assert posted.json()["errorType"] == "OrderError"


async def test_errors_as_aws_reports_them(tmp_path: Path) -> None:
    async with node_runtime(tmp_path, "cjs", "index.thrown") as node:
        posted = await node.invoke({})
        assert posted.kind == "error"
        assert posted.headers["lambda-runtime-function-error-type"] == "OrderError"
        error = posted.json()
        assert error["errorType"] == "OrderError"
        assert error["errorMessage"] == "no such order"
        assert error["trace"][0] == "OrderError: no such order"
        assert any("index.js" in line for line in error["trace"][1:])
        log = node.log()
        assert re.search(r"\tERROR\tInvoke Error \t\{\"errorType\":\"OrderError\"", log), log
        # the process survives a handler error
        assert (await node.invoke({})).kind == "error"
    async with node_runtime(tmp_path, "cjs", "index.syncThrow") as node:
        assert (await node.invoke({})).json()["errorType"] == "TypeError"
    async with node_runtime(tmp_path, "cjs", "index.callbackError") as node:
        assert (await node.invoke({})).json()["errorMessage"] == "out of stock"
    async with node_runtime(tmp_path, "cjs", "index.rejectString") as node:
        posted = await node.invoke({})
        assert posted.json() == {"errorType": "string", "errorMessage": "plain string", "trace": []}
    async with node_runtime(tmp_path, "cjs", "index.circular") as node:
        assert (await node.invoke({})).json()["errorMessage"] == "Unable to stringify response body"
    async with node_runtime(tmp_path, "cjs", "index.neverSettles") as node:
        posted = await node.invoke({})
        assert posted.json()["errorType"] == "Runtime.NodeJsExit"


async def test_unhandled_rejection_and_uncaught_exception_end_the_process(tmp_path: Path) -> None:
    async with node_runtime(tmp_path, "cjs", "index.unhandled") as node:
        posted = await node.invoke({})
        assert posted.json()["errorType"] == "Runtime.UnhandledPromiseRejection"
        assert posted.json()["errorMessage"] == "OrderError: nobody waits for me"
        assert await node.exit_code() == 128
        assert "\tERROR\tUnhandled Promise Rejection \t{" in node.log()
    async with node_runtime(tmp_path, "cjs", "index.uncaught") as node:
        posted = await node.invoke({})
        assert posted.json()["errorMessage"] == "thrown from a timer"
        assert await node.exit_code() == 129
        assert "\tERROR\tUncaught Exception \t{" in node.log()


async def test_an_uncaught_exception_after_the_response_ends_the_process(tmp_path: Path) -> None:
    # its error report must not queue behind the /next that already waits for an invocation
    async with node_runtime(tmp_path, "cjs", "index.throwsLater") as node:
        assert (await node.invoke({})).json() == "answered"
        assert await node.exit_code() == 129
        assert "thrown after the response" in node.log()
        assert node.peer.rejected  # the report for a finished invocation: 400


async def test_process_exit_in_handler(tmp_path: Path) -> None:
    async with node_runtime(tmp_path, "cjs", "index.exits") as node:
        node.peer.invoke({})
        assert await node.exit_code() == 3


async def test_init_errors(tmp_path: Path) -> None:
    cases = [
        ("cjs", "missing.handler", "Runtime.ImportModuleError", "Cannot find module 'missing'"),
        ("cjs", "index.nope", "Runtime.HandlerNotFound", "index.nope is undefined or not exported"),
        ("cjs", "index.notAFunction", "Runtime.HandlerNotFound", "is not a function"),
        ("cjs", "index", "Runtime.MalformedHandlerName", "Bad handler"),
        ("cjs", "../cjs/index.handler", "Runtime.MalformedHandlerName", "not a valid handler"),
        ("syntax_error", "index.handler", "Runtime.UserCodeSyntaxError", "SyntaxError: "),
        ("init_throws", "index.handler", "Error", "cannot connect to the database"),
    ]
    for code, handler, error_type, message in cases:
        async with node_runtime(tmp_path, code, handler) as node:
            posted = await asyncio.wait_for(node.peer.init_error, 10)
            assert posted.headers["lambda-runtime-function-error-type"] == error_type
            error = posted.json()
            assert error["errorType"] == error_type, error
            assert message in error["errorMessage"], error
            assert isinstance(error["trace"], list)
            assert await node.exit_code() == 129
            assert "\tundefined\tERROR\tUncaught Exception \t{" in node.log()
            assert node.peer.next_calls == 0


async def test_console_lines_as_aws_writes_them(tmp_path: Path) -> None:
    async with node_runtime(tmp_path, "cjs", "index.logs") as node:
        invocation = node.peer.invoke({})
        assert (await node.answer(invocation)).json() == "logged"
        lines = node.log().rstrip("\n").split("\n")  # not splitlines: \r stays inside a line
        stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
        request_id = re.escape(invocation.request_id)
        expected = [
            rf"{stamp}\t{request_id}\tINFO\thello from orders",
            rf"{stamp}\t{request_id}\tINFO\ttwo\rlines",
            rf"{stamp}\t{request_id}\tWARN\tcareful",
            rf"{stamp}\t{request_id}\tERROR\tbad {{ code: 7 }}",
            rf"{stamp}\t{request_id}\tDEBUG\tdetails",
        ]
        assert len(lines) == len(expected), lines
        for pattern, line in zip(expected, lines, strict=True):
            assert re.fullmatch(pattern, line), (pattern, line)


async def test_log_level_and_json_format(tmp_path: Path) -> None:
    env = {"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "WARN"}
    async with node_runtime(tmp_path, "cjs", "index.logs", env) as node:
        invocation = node.peer.invoke({})
        await node.answer(invocation)
        entries = [json.loads(line) for line in node.log().splitlines()]
        assert [entry["level"] for entry in entries] == ["WARN", "ERROR"]
        assert entries[0]["message"] == "careful"
        assert entries[0]["requestId"] == invocation.request_id
        assert entries[1]["message"] == "bad { code: 7 }"


async def test_event_that_is_not_json_is_an_invocation_error(tmp_path: Path) -> None:
    async with node_runtime(tmp_path, "cjs", "index.handler") as node:
        posted = await node.answer(node.peer.invoke(raw=b"not json"))
        assert posted.json()["errorType"] == "SyntaxError"
        assert (await node.invoke({"ok": True})).json()["event"] == {"ok": True}


async def test_keep_alive_connection_closed_by_the_server_is_replaced(tmp_path: Path) -> None:
    async with node_runtime(tmp_path, "cjs", "index.handler") as node:
        assert (await node.invoke({"n": 1})).kind == "response"
        node.peer.drop_next_reused_connection = True
        assert (await node.invoke({"n": 2})).json()["event"] == {"n": 2}
        assert not node.peer.drop_next_reused_connection
        assert node.process.returncode is None

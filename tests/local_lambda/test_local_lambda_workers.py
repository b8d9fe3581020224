"""Worker processes of the local Lambda server: crash, reload, parallelism, concurrency limits,
init errors and shutdown, through botocore against a real server subprocess.

The functions live in a temporary directory (the reload test edits one of them).
"""

from __future__ import annotations

import json
import os
import signal
import textwrap
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.local_lambda_fixtures import LocalLambdaServer, lambda_client, start_local_lambda

pytestmark = pytest.mark.e2e
MAX_CONCURRENCY = 5

HANDLERS = {
    "crash.py": """
        import os

        def handler(event, context):
            print("about to exit")
            os._exit(event.get("code", 3))
    """,
    "stamp.py": """
        import os
        import time

        def handler(event, context):
            started = time.time()
            time.sleep(event.get("seconds", 0))
            return {"pid": os.getpid(), "started": started, "ended": time.time()}
    """,
    "hold.py": '''
        """Writes event["marker"], then holds its worker until event["release"] exists."""
        import os
        import time
        from pathlib import Path

        def handler(event, context):
            Path(event["marker"]).write_text(str(os.getpid()))
            while not Path(event["release"]).exists():
                time.sleep(0.01)
            return {"pid": os.getpid()}
    ''',
    "reload_me.py": """
        import os

        VERSION = "one"

        def handler(event, context):
            return {"version": VERSION, "pid": os.getpid()}
    """,
    "vanish.py": """
        def handler(event, context):
            return "here"
    """,
    "json.py": """
        def handler(event, context):
            return "shadowed"
    """,
    "bad_import.py": """
        import module_that_does_not_exist

        def handler(event, context):
            return None
    """,
    "unmarshalable.py": """
        def handler(event, context):
            return {1, 2, 3}
    """,
}

FUNCTIONS_YAML = """
functions:
  crash: {handler: functions/crash.py:handler}
  stamp: {handler: functions/stamp.py:handler, timeout: 10}
  hold: {handler: functions/hold.py:handler, timeout: 20}
  single: {handler: functions/hold.py:handler, timeout: 20, reserved_concurrency: 1}
  reload: {handler: functions/reload_me.py:handler}
  vanish: {handler: functions/vanish.py:handler}
  bad-import: {handler: functions/bad_import.py:handler}
  shadow: {handler: functions/json.py:handler}
  no-handler: {handler: functions/stamp.py:missing}
  unmarshalable: {handler: functions/unmarshalable.py:handler}
"""


@pytest.fixture(scope="module")
def functions_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("local-lambda")
    (root / "functions").mkdir()
    for name, source in HANDLERS.items():
        (root / "functions" / name).write_text(textwrap.dedent(source))
    (root / "functions.yaml").write_text(FUNCTIONS_YAML)
    return root


@pytest.fixture(scope="module")
def server(functions_dir: Path) -> Iterator[LocalLambdaServer]:
    with start_local_lambda(
        functions_dir / "functions.yaml",
        extra_args=["--max-concurrency", str(MAX_CONCURRENCY)],
    ) as server:
        yield server


@pytest.fixture(scope="module")
def client(server: LocalLambdaServer) -> Any:
    return lambda_client(server.url, max_pool_connections=20)


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=10) as executor:
        yield executor


def call(client: Any, name: str, event: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    response = client.invoke(FunctionName=name, Payload=json.dumps(event or {}), **kwargs)
    payload = response["Payload"].read()
    response["Body"] = json.loads(payload) if payload else None
    return response


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


class Holders:
    """Invocations of a hold.py function that stay running until released."""

    def __init__(self, client: Any, pool: ThreadPoolExecutor, directory: Path) -> None:
        self._client = client
        self._pool = pool
        self._directory = directory
        self.release_file = directory / "release"
        self.futures: list[Future[Any]] = []

    def start(self, name: str, count: int) -> None:
        """Start ``count`` invocations and wait until each one runs in its worker."""
        markers = []
        for _ in range(count):
            marker = self._directory / f"marker-{len(self.futures)}"
            event = {"marker": str(marker), "release": str(self.release_file)}
            self.futures.append(self._pool.submit(call, self._client, name, event))
            markers.append(marker)
        wait_until(lambda: all(marker.exists() for marker in markers))

    def release(self) -> list[Any]:
        self.release_file.touch()
        return [future.result(timeout=20) for future in self.futures]


@pytest.fixture
def holders(client: Any, pool: ThreadPoolExecutor, tmp_path: Path) -> Iterator[Holders]:
    holders = Holders(client, pool, tmp_path)
    yield holders
    holders.release_file.touch()


def test_worker_crash_is_runtime_exit_error_and_the_server_survives(client: Any) -> None:
    response = call(client, "crash", {"code": 3}, LogType="Tail")

    request_id = response["ResponseMetadata"]["RequestId"]
    assert response["FunctionError"] == "Unhandled"
    assert response["Body"] == {
        "errorType": "Runtime.ExitError",
        "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: exit status 3",
    }
    assert call(client, "stamp")["StatusCode"] == 200
    assert call(client, "crash", {"code": 1})["Body"]["errorType"] == "Runtime.ExitError"


def test_warm_worker_is_reused(client: Any) -> None:
    first = call(client, "stamp")["Body"]["pid"]
    second = call(client, "stamp")["Body"]["pid"]
    assert first == second


def test_concurrent_invocations_run_in_parallel(client: Any, pool: ThreadPoolExecutor) -> None:
    futures = [pool.submit(call, client, "stamp", {"seconds": 1}) for _ in range(4)]
    results = [future.result(timeout=30)["Body"] for future in futures]

    # every invocation started before any of them ended: they overlapped
    assert max(result["started"] for result in results) < min(result["ended"] for result in results)
    assert len({result["pid"] for result in results}) == 4


def test_handler_file_change_is_reloaded_on_the_next_invocation(
    client: Any, functions_dir: Path
) -> None:
    handler_file = functions_dir / "functions" / "reload_me.py"
    before = call(client, "reload")["Body"]
    assert before["version"] == "one"

    handler_file.write_text(handler_file.read_text().replace('"one"', '"two"'))
    after = call(client, "reload")["Body"]

    assert after["version"] == "two"
    assert after["pid"] != before["pid"]


def test_broken_then_fixed_handler_file_recovers(client: Any, functions_dir: Path) -> None:
    handler_file = functions_dir / "functions" / "vanish.py"
    source = handler_file.read_text()
    assert call(client, "vanish")["Body"] == "here"

    handler_file.unlink()
    missing = call(client, "vanish")["Body"]
    handler_file.write_text("def handler(event, context)\n    return 1\n")
    broken = call(client, "vanish")["Body"]
    handler_file.write_text(source.replace('"here"', '"back"'))
    fixed = call(client, "vanish")["Body"]

    assert missing["errorType"] == "Runtime.ImportModuleError"
    assert missing["errorMessage"] == "Unable to import module 'vanish': No module named 'vanish'"
    assert broken["errorType"] == "Runtime.UserCodeSyntaxError"
    assert broken["errorMessage"].startswith("Syntax error in module 'vanish': ")
    assert fixed == "back"


def test_reserved_concurrency_exceeded_is_429(client: Any, holders: Holders) -> None:
    holders.start("single", 1)

    with pytest.raises(ClientError) as excinfo:
        call(client, "single", {"marker": "/dev/null", "release": "/"})

    error = excinfo.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert error["Error"]["Code"] == "TooManyRequestsException"
    assert error["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
    assert error["ResponseMetadata"]["HTTPHeaders"]["retry-after"] == "1"
    assert [result["StatusCode"] for result in holders.release()] == [200]


def test_server_wide_concurrency_limit_is_429(client: Any, holders: Holders) -> None:
    holders.start("hold", MAX_CONCURRENCY)

    with pytest.raises(ClientError) as excinfo:
        call(client, "stamp")

    error = excinfo.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert error["Reason"] == "ConcurrentInvocationLimitExceeded"
    assert len(holders.release()) == MAX_CONCURRENCY
    assert call(client, "stamp")["StatusCode"] == 200


def test_throttled_event_invocation_waits_and_runs(
    client: Any, server: LocalLambdaServer, holders: Holders
) -> None:
    holders.start("single", 1)
    queued = {"marker": str(holders.release_file.with_name("queued")), "release": "/"}

    response = call(client, "single", queued, InvocationType="Event")

    assert response["StatusCode"] == 202
    holders.release()
    server.wait_for_output(f"END RequestId: {response['ResponseMetadata']['RequestId']}")
    assert holders.release_file.with_name("queued").exists()


def test_import_error_is_runtime_import_module_error(client: Any) -> None:
    response = call(client, "bad-import")

    assert response["FunctionError"] == "Unhandled"
    assert response["Body"]["errorType"] == "Runtime.ImportModuleError"
    assert response["Body"]["errorMessage"] == (
        "Unable to import module 'bad_import': No module named 'module_that_does_not_exist'"
    )


def test_handler_file_named_like_a_runtime_module_is_an_import_error(client: Any) -> None:
    response = call(client, "shadow")

    assert response["Body"]["errorType"] == "Runtime.ImportModuleError"
    assert response["Body"]["errorMessage"] == (
        "Unable to import module 'json': a module named 'json' is already imported; rename the file"
    )
    assert call(client, "stamp")["StatusCode"] == 200


def test_missing_handler_is_runtime_handler_not_found(client: Any) -> None:
    response = call(client, "no-handler")

    assert response["Body"]["errorType"] == "Runtime.HandlerNotFound"
    assert response["Body"]["errorMessage"] == "Handler 'missing' missing on module 'stamp'"


def test_unserializable_result_is_runtime_marshal_error(client: Any) -> None:
    response = call(client, "unmarshalable")

    assert response["FunctionError"] == "Unhandled"
    assert response["Body"]["errorType"] == "Runtime.MarshalError"
    assert response["Body"]["errorMessage"].startswith("Unable to marshal response:")


def process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_idle_workers_end_after_the_idle_timeout(functions_dir: Path) -> None:
    with start_local_lambda(
        functions_dir / "functions.yaml", extra_args=["--idle-timeout", "0.3"]
    ) as server:
        client = lambda_client(server.url)
        pid = call(client, "stamp")["Body"]["pid"]

        wait_until(lambda: not process_exists(pid))

        assert call(client, "stamp")["Body"]["pid"] != pid


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_shutdown_ends_the_workers(functions_dir: Path, signum: int) -> None:
    server = start_local_lambda(functions_dir / "functions.yaml")
    with server:
        pid = call(lambda_client(server.url), "stamp")["Body"]["pid"]
        assert process_exists(pid)

        assert server.stop(signum) == 0

    assert not process_exists(pid)

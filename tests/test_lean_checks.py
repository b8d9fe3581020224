"""The debug-mode checks the lean core turns off, in a process of its own (the patch is
process-wide, as in ``run_lean``)."""

from __future__ import annotations

import os
import subprocess
import sys

CHECK = """
import asyncio
from mitmproxy import http
from mitmproxy.test import tutils
from mitmproxy.utils import asyncio_utils
from lambdaroute.lean_checks import turn_off_debug_checks

def builds_with_a_wrong_type():
    try:
        tutils.treq(timestamp_end="not a float")
    except TypeError:
        return False
    return True

async def task_info():
    task = asyncio_utils.create_task(asyncio.sleep(0), name="named", client=("127.0.0.1", 1),
                                     **({"keep_ref": True} if "keep_ref" in
                                        asyncio_utils.create_task.__code__.co_varnames else {}))
    await task
    return task.get_name(), task.client, isinstance(task.created, float)

before = builds_with_a_wrong_type()
turn_off_debug_checks()
print(before, builds_with_a_wrong_type(), tutils.tresp().status_code, asyncio.run(task_info()))
"""


def test_type_checks_and_the_pytest_lookup_are_off_and_the_rest_works() -> None:
    env = {**os.environ, "PYTEST_CURRENT_TEST": "a test name that must not end up in task names"}
    done = subprocess.run(
        [sys.executable, "-c", CHECK], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False True 200 ('named', ('127.0.0.1', 1), True)"

"""When the server notices an edit (FunctionPool.check_code): a small code directory on the
very next invocation, a large one (vendored dependencies) within a bounded delay, without
walking thousands of files on every invocation."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from local_lambda.code_stamp import SMALL_TREE
from local_lambda.functions import FunctionSpec
from local_lambda.workers import FunctionPool


def pool_for(code: Path, runtime: str = "nodejs20.x") -> FunctionPool:
    spec = FunctionSpec(
        name="f",
        handler_file=None,
        handler_name="",
        timeout=3,
        memory_size=128,
        environment={},
        aliases={},
        reserved_concurrency=None,
        runtime=runtime,
        code_dir=code,
        handler_text="index.handler",
    )
    api: Any = None  # check_code does not talk to the Runtime API
    return FunctionPool(spec, {}, api)


def touch(path: Path, text: str) -> None:
    path.write_text(text)
    stat = path.stat()  # a new mtime even within the file system's timestamp granularity
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))


def test_a_small_tree_is_checked_on_every_invocation(tmp_path: Path) -> None:
    (tmp_path / "index.js").write_text("1")
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "util.js").write_text("1")
    pool = pool_for(tmp_path)
    pool.check_code()
    assert pool.generation == 1
    pool.check_code()
    assert pool.generation == 1
    touch(tmp_path / "lib" / "util.js", "2")
    pool.check_code()
    assert pool.generation == 2
    (tmp_path / "__pycache__").mkdir()  # a bytecode cache is no edit
    (tmp_path / "__pycache__" / "x.pyc").write_text("cache")
    pool.check_code()
    assert pool.generation == 2


def test_a_large_tree_is_walked_again_only_after_a_delay(tmp_path: Path) -> None:
    for index in range(SMALL_TREE + 50):
        (tmp_path / f"dep{index}.js").write_text("1")
    pool = pool_for(tmp_path)
    pool.check_code()
    assert pool.generation == 1
    touch(tmp_path / "dep7.js", "2")
    pool.check_code()  # right after a walk: not walked again yet
    assert pool.generation == 1
    deadline = time.monotonic() + 10
    while pool.generation == 1 and time.monotonic() < deadline:
        time.sleep(0.01)
        pool.check_code()
    assert pool.generation == 2

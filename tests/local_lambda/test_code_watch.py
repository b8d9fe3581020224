"""TreeWatcher (inotify): an edit anywhere in a code directory is seen by the very next
check, with the same idea of what is code as code_stamp; and FunctionPool uses it instead
of walking the directory."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local_lambda import code_watch, workers
from local_lambda.code_watch import TreeWatcher, WatchedTree
from tests.local_lambda.test_code_stamp import pool_for

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify is Linux's")


@pytest.fixture
def watcher() -> Iterator[TreeWatcher]:
    watching = TreeWatcher()
    yield watching
    watching.close()


def code_tree(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "index.js").write_text("1")
    (root / "lib").mkdir()
    (root / "lib" / "util.js").write_text("1")
    (root / "node_modules" / "dep").mkdir(parents=True)
    return root


def seen(watcher: TreeWatcher, tree: WatchedTree) -> int:
    watcher.poll()
    return tree.version


def test_edits_deletes_renames_and_touches_are_changes(
    tmp_path: Path, watcher: TreeWatcher
) -> None:
    tree = watcher.watch(code_tree(tmp_path))
    assert tree is not None
    assert seen(watcher, tree) == 0
    steps = [
        lambda: (tmp_path / "lib" / "util.js").write_text("2"),
        lambda: os.utime(tmp_path / "index.js", ns=(0, 10**18)),
        lambda: (tmp_path / "lib" / "util.js").rename(tmp_path / "lib" / "helpers.js"),
        lambda: (tmp_path / "lib" / "helpers.js").unlink(),
        lambda: (tmp_path / ".env").write_text("A=1"),  # a dot file is code, as in code_stamp
    ]
    version = 0
    for number, step in enumerate(steps):
        step()
        assert seen(watcher, tree) > version, number
        version = tree.version
        assert seen(watcher, tree) == version  # nothing more happened: no change


def test_dependencies_bytecode_and_empty_directories_are_not_changes(
    tmp_path: Path, watcher: TreeWatcher
) -> None:
    tree = watcher.watch(code_tree(tmp_path))
    assert tree is not None
    (tmp_path / "node_modules" / "dep" / "index.js").write_text("vendored")
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "app.cpython-311.pyc").write_bytes(b"cache")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD").write_text("ref")
    (tmp_path / "empty").mkdir()
    assert seen(watcher, tree) == 0


def test_a_new_directory_is_watched_and_counts_by_its_files(
    tmp_path: Path, watcher: TreeWatcher
) -> None:
    tree = watcher.watch(code_tree(tmp_path))
    assert tree is not None
    (tmp_path / "src").mkdir()
    assert seen(watcher, tree) == 0
    (tmp_path / "src" / "app.js").write_text("1")
    assert seen(watcher, tree) > 0
    version = tree.version
    (tmp_path / "src" / "app.js").write_text("2")  # the new directory is watched too
    assert seen(watcher, tree) > version
    # a directory moved in with files already in it, a subdirectory included
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    (outside / "deep").mkdir(parents=True)
    (outside / "deep" / "x.js").write_text("1")
    version = tree.version
    outside.rename(tmp_path / "moved")
    assert seen(watcher, tree) > version
    version = tree.version
    (tmp_path / "moved" / "deep" / "x.js").write_text("2")
    assert seen(watcher, tree) > version
    version = tree.version
    shutil.rmtree(tmp_path / "moved")
    assert seen(watcher, tree) > version


def test_a_tree_whose_root_goes_away_is_broken(tmp_path: Path, watcher: TreeWatcher) -> None:
    root = code_tree(tmp_path / "code")
    tree = watcher.watch(root)
    assert tree is not None
    shutil.rmtree(root)
    assert seen(watcher, tree) > 0
    assert tree.broken


def test_trees_too_large_to_watch_are_walked(
    tmp_path: Path, watcher: TreeWatcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(code_watch, "MAX_DIRECTORIES", 3)
    for name in "abcd":
        (tmp_path / name).mkdir()
    assert watcher.watch(tmp_path) is None


def test_two_trees_on_one_directory_each_see_its_changes(
    tmp_path: Path, watcher: TreeWatcher
) -> None:
    outer = watcher.watch(code_tree(tmp_path))
    inner = watcher.watch(tmp_path / "lib")
    assert outer is not None and inner is not None
    (tmp_path / "lib" / "util.js").write_text("2")
    watcher.poll()
    assert outer.version > 0 and inner.version > 0
    seen_by_outer, seen_by_inner = outer.version, inner.version
    (tmp_path / "index.js").write_text("2")
    watcher.poll()
    assert outer.version > seen_by_outer and inner.version == seen_by_inner


def test_the_pool_sees_an_edit_on_the_next_invocation_without_walking(
    tmp_path: Path, watcher: TreeWatcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    code_tree(tmp_path)
    pool = pool_for(tmp_path)
    pool.watcher = watcher

    def no_walk(*args: Any) -> Any:
        raise AssertionError("a watched tree is not walked")

    monkeypatch.setattr(workers, "code_stamp", no_walk)
    pool.check_code()
    assert pool.generation == 1
    pool.check_code()
    assert pool.generation == 1
    (tmp_path / "lib" / "util.js").write_text("2")
    pool.check_code()
    assert pool.generation == 2
    # the whole directory replaced (a build): watched anew, and that is a change
    shutil.rmtree(tmp_path)
    code_tree(tmp_path)
    pool.check_code()
    assert pool.generation == 3
    (tmp_path / "index.js").write_text("3")
    pool.check_code()
    assert pool.generation == 4

"""What tells the server that a function's code changed (fresh workers on the next call)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

SMALL_TREE = 200
"""Files in a code directory walked on every invocation (see FunctionPool.check_code)."""

WALK_COST_FACTOR = 20


def excluded(directory_name: str) -> bool:
    """A directory whose files are not code: dot directories, dependencies, bytecode."""
    return directory_name.startswith(".") or directory_name in ("node_modules", "__pycache__")


def file_stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return (stat.st_mtime_ns, stat.st_size, stat.st_ino)


def code_stamp(code_dir: Path, limit: int = 2000) -> tuple[Any, ...]:
    """Names, mtimes and sizes of the code directory's files (not node_modules, not dot
    directories, not __pycache__, at most ``limit`` entries): a change means fresh workers.
    Directories count by their files only, so Python writing its bytecode cache is no
    change."""
    stamp: list[Any] = []
    pending = [code_dir]
    while pending and len(stamp) < limit:
        try:
            entries = list(os.scandir(pending.pop()))
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                if not excluded(entry.name):
                    pending.append(Path(entry.path))
                continue
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            stamp.append((entry.path, info.st_mtime_ns, info.st_size, info.st_ino))
    return tuple(sorted(stamp))

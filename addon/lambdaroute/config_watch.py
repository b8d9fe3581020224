"""Watching lambda_config for changes, installing a new version only once it has settled.

An editor or ``cp`` over a slow disk writes a file in pieces; a piece can parse as a
valid but partial config (9 routes of 10), and installing it sends the missing routes'
traffic upstream. So a change is loaded only when the file's state (mtime, size and a hash
of its content) is the same on two polls ``SETTLE_SECONDS`` apart, and installed only
when that state is still the same after the load. An atomic rename gives a new state
that never changes again, so it is installed after one settle period.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

#: how long a changed file must stay unchanged before it is loaded
SETTLE_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class FileState:
    mtime_ns: int
    size: int
    sha256: str


def file_state(path: str) -> FileState | None:
    """The file's state, or None when it cannot be read. Blocking: call it in a thread."""
    try:
        with open(path, "rb") as file:
            before = os.fstat(file.fileno())
            content = file.read()
    except OSError:
        return None
    return FileState(before.st_mtime_ns, len(content), hashlib.sha256(content).hexdigest())


class SettleTracker:
    """Decides, poll by poll, when a changed file may be loaded."""

    def __init__(self) -> None:
        self._seen: FileState | None = None

    def settled(self, state: FileState) -> bool:
        """True when ``state`` is what the previous poll saw too (unchanged meanwhile)."""
        if state == self._seen:
            return True
        self._seen = state
        return False

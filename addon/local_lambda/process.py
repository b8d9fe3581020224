"""Worker processes as process groups: exit noticed at once, the whole group ended.

A worker runs in its own session, so that its process group holds everything the handler
forked. The exit of the worker itself is watched through a pidfd (not through its pipes,
which a forked child may keep open): when it exits, the rest of its group is killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal


def kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def watch_exit(pid: int) -> asyncio.Future[None]:
    """A future resolved when ``pid`` exits; then its process group is killed."""
    loop = asyncio.get_running_loop()
    exited: asyncio.Future[None] = loop.create_future()
    try:
        pidfd = os.pidfd_open(pid)
    except (OSError, AttributeError):  # no pidfd (not Linux): pipes only
        return exited

    def on_exit() -> None:
        loop.remove_reader(pidfd)
        os.close(pidfd)
        kill_group(pid)
        if not exited.done():
            exited.set_result(None)

    loop.add_reader(pidfd, on_exit)
    return exited


def peak_memory_mb(pid: int) -> int:
    """VmHWM of ``pid`` in MB (0 where /proc is absent)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return 0

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


class PeakMemory:
    """A process's peak memory (VmHWM) in MB, from /proc through a descriptor opened once.

    A reading is one ``pread`` (about 4 us) instead of an open, a buffered text read and a
    close (about 23 us), on every invocation whose log is shown. The descriptor stays bound
    to the process it was opened for, so a reused pid is never read; once the process is
    gone, the last value read is kept. 0 where /proc is absent.
    """

    __slots__ = ("_fd", "mb")

    def __init__(self, pid: int) -> None:
        self.mb = 0
        try:
            self._fd = os.open(f"/proc/{pid}/status", os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            self._fd = -1

    def read(self) -> int:
        if self._fd >= 0:
            try:
                status = os.pread(self._fd, 16384, 0)
            except OSError:  # the process has ended
                self.close()
            else:
                start = status.find(b"\nVmHWM:")
                if start >= 0:
                    self.mb = int(status[start + 7 : status.index(b"kB", start)]) // 1024
        return self.mb

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

"""mitmproxy's debug-mode checks that the lean core turns off.

Under ``__debug__`` (any Python started without ``-O``) mitmproxy checks the type of every
field of every request and response it builds (``MessageData.__post_init__``), and looks
up ``PYTEST_CURRENT_TEST`` in the environment for every task it starts, a failed lookup
that raises and catches a ``KeyError`` inside ``os.environ``. Together that was 8-9% of the
lean core's CPU per flow (README, Lean core). ``python -O`` would turn them off, but also
every ``assert``, and one of mitmproxy's has a side effect it needs: the QUIC ClientHello
parser reads the handshake type byte inside an ``assert``. So the lean core turns off
these two checks alone, for its own process (``run_lean``), never in a process that
imports the addon into another master.
"""

from __future__ import annotations

import asyncio
import time

from mitmproxy import http
from mitmproxy.utils import asyncio_utils


def _no_type_checks(self: http.MessageData) -> None:
    """``MessageData.__post_init__`` without its debug-mode type checks."""


def _set_task_debug_info(
    task: asyncio.Task[object], *, name: str, client: tuple[object, ...] | None = None
) -> None:
    """mitmproxy's ``set_task_debug_info`` without the pytest name lookup."""
    task.created = time.time()  # type: ignore[attr-defined]
    task.set_name(name)
    if client:
        task.client = client  # type: ignore[attr-defined]


def turn_off_debug_checks() -> None:
    if hasattr(http.MessageData, "__post_init__"):
        http.MessageData.__post_init__ = _no_type_checks  # type: ignore[method-assign]
    asyncio_utils.set_task_debug_info = _set_task_debug_info

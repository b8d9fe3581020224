"""What the addon and its intake endpoint exchange for one flow: the token header, the
``PendingWork`` the addon registers, the ``ReceivedBody`` it is called back with and the
answers it gives back (``LoopbackAnswer``, or a ``StreamedAnswer`` whose body may fail
with ``StreamAborted``).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass

#: the request header that carries a pending work's token to the endpoint
TOKEN_HEADER = "x-lambda-route-intake"


@dataclass(frozen=True, slots=True)
class LoopbackAnswer:
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    body: bytes


class StreamAborted(Exception):
    """Raised by a ``StreamedAnswer``'s body: end the response without a clean end."""


@dataclass(frozen=True, slots=True)
class StreamedAnswer:
    """An answer whose body is relayed piece by piece (closed when the relay ends)."""

    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    body: AsyncGenerator[bytes, None]


@dataclass(frozen=True, slots=True)
class ReceivedBody:
    #: the body, or ``b""`` when it was dropped
    data: bytes
    #: its size as received (also when dropped)
    size: int
    dropped: bool


@dataclass(slots=True)
class PendingWork:
    """What the addon wants done with one flow's body, and its callbacks."""

    #: at most this many body bytes are kept
    keep_up_to: int
    #: over ``keep_up_to``: True drops the body (it is read and discarded), False refuses it
    drop_over_limit: bool
    arrived: Callable[[], None]
    answer: Callable[[ReceivedBody], Awaitable[LoopbackAnswer | StreamedAnswer]]
    refuse: Callable[[int | None], LoopbackAnswer]

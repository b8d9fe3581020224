"""``application/vnd.amazon.eventstream`` frames -> botocore's ``EventStreamMessage``s.

botocore's ``EventStreamBuffer`` does the decoding and every check (prelude and message
CRC32, header and payload length limits, header types). It appends each added piece to
one ``bytes`` and slices consumed messages off it, which is quadratic when a big socket
read holds many small frames or a big frame arrives in many reads. So the bytes are kept
here in a ``bytearray`` (cheap to consume from the front) and handed to botocore one
whole message at a time: the 12-byte prelude first (botocore validates it, so a bad
length is refused before anything waits for it), then the rest of the message once it is
all there. Memory is bounded by one message (botocore refuses payloads over 24 MiB).
"""

from __future__ import annotations

from botocore.eventstream import EventStreamBuffer, EventStreamMessage, ParserError

_PRELUDE_LENGTH = 12


class EventStreamDecodeError(Exception):
    """The bytes are not a valid event stream."""


class EventStreamDecoder:
    def __init__(self) -> None:
        self._pending = bytearray()
        self._buffer = EventStreamBuffer()
        self._message_length = 0  # of the message whose prelude botocore accepted, or 0

    def feed(self, data: bytes) -> list[EventStreamMessage]:
        """The messages ``data`` completes, in order."""
        self._pending += data
        messages: list[EventStreamMessage] = []
        try:
            while True:
                if not self._message_length:
                    if len(self._pending) < _PRELUDE_LENGTH:
                        return messages
                    self._buffer.add_data(bytes(self._pending[:_PRELUDE_LENGTH]))
                    for _ in self._buffer:  # validates the prelude; no message yet
                        raise EventStreamDecodeError("a message shorter than its prelude")
                    self._message_length = int.from_bytes(self._pending[:4], "big")
                    if self._message_length < _PRELUDE_LENGTH + 4:
                        raise EventStreamDecodeError(
                            f"a message length of {self._message_length} bytes"
                        )
                if len(self._pending) < self._message_length:
                    return messages
                self._buffer.add_data(bytes(self._pending[_PRELUDE_LENGTH : self._message_length]))
                del self._pending[: self._message_length]
                self._message_length = 0
                messages.append(next(self._buffer))
        except ParserError as exc:
            raise EventStreamDecodeError(str(exc)) from exc

    @property
    def partial(self) -> bool:
        """Whether bytes of an unfinished message are waiting."""
        return bool(self._pending)

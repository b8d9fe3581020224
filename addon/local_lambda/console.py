"""Echo of invocation logs on the server's stdout, off the event loop.

Writing to stdout can block (a pipe nobody drains, a slow terminal); a thread does the
writing, so the event loop only queues text. When the queue is full, logs are dropped and
the count of dropped ones is written once the queue drains.
"""

from __future__ import annotations

import queue
import sys
import threading
from typing import TextIO

_QUEUE_SIZE = 10_000


class ConsoleEcho:
    """A daemon thread that writes queued text to a stream."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stdout
        self._queue: queue.Queue[str | None] = queue.Queue(_QUEUE_SIZE)
        self._dropped = 0
        self._dropped_lock = threading.Lock()
        self._thread = threading.Thread(target=self._write_forever, name="log-echo", daemon=True)
        self._thread.start()

    def write(self, text: str) -> None:
        """Queue ``text``; never blocks."""
        try:
            self._queue.put_nowait(text)
        except queue.Full:
            with self._dropped_lock:
                self._dropped += 1

    def close(self, timeout: float = 2.0) -> None:
        """Write what is queued (waiting at most ``timeout`` seconds) and stop the thread."""
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            return
        self._thread.join(timeout)

    def _write_forever(self) -> None:
        while (text := self._queue.get()) is not None:
            with self._dropped_lock:
                dropped, self._dropped = self._dropped, 0
            if dropped:
                text = f"[local-lambda: {dropped} invocation logs dropped: stdout blocked]\n{text}"
            self._stream.write(text)
            if self._queue.empty():
                self._stream.flush()
        self._stream.flush()

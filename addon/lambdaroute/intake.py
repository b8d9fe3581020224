"""The addon's loopback endpoint: where routed flows with a large or unknown-size body go.

mitmproxy decides to stream a request body to "the server" both before ``requestheaders``
(a Content-Length over ``stream_large_bodies``) and while the body arrives
(``check_body_size``), and it cannot stream into a flow whose response an addon has set.
So a routed flow whose body may not fit in memory is pointed at this endpoint, an asyncio
server on 127.0.0.1 owned by the addon: whatever mitmproxy streams comes here, never to
the upstream, and is read within bounds (kept up to a limit, else dropped or refused with
an early answer; ``intake_body.py``).

The seam (``intake_types.py``): the addon ``register``s a ``PendingWork`` and puts the
token it gets in the request's ``TOKEN_HEADER``; the endpoint looks the work up by that
token and calls back (``arrived`` once the head is here, ``answer`` with the body,
``refuse`` when the body is over the limit and may not be dropped) and writes the
``LoopbackAnswer`` or ``StreamedAnswer`` it gets back as the HTTP response mitmproxy reads
for the flow (``intake_response.py``).

One request per connection (the answer says ``Connection: close``): only flows with big
bodies or streamed answers come here, so a connection set-up is noise.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket

from .intake_body import BadRequest, Sink, chunked_pieces, length_pieces
from .intake_response import relay_answer, write_answer
from .intake_types import TOKEN_HEADER, LoopbackAnswer, PendingWork, ReceivedBody, StreamedAnswer

logger = logging.getLogger(__name__)

#: bound on a request head, and on one chunk-size line
MAX_HEAD_BYTES = 256 * 1024


class IntakeEndpoint:
    def __init__(self) -> None:
        self._pending: dict[str, PendingWork] = {}
        self._server: asyncio.Server | None = None
        self._listener: socket.socket | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._starting: asyncio.Future[None] | None = None
        self.port: int | None = None

    def bind(self) -> int:
        """Take a port on 127.0.0.1 now (once), so that flows can be pointed here at once:
        connections made before ``start`` wait in the listen backlog."""
        if self.port is None:
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.bind(("127.0.0.1", 0))
            listener.listen(256)
            listener.setblocking(False)
            self._listener = listener
            self.port = listener.getsockname()[1]
        return self.port

    async def start(self) -> int:
        """Listen, once: callers that come while it starts share that start. The port."""
        port = self.bind()
        if self._starting is None:
            self._starting = asyncio.ensure_future(self._listen())
        await asyncio.shield(self._starting)
        return port

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(
            self._serve, sock=self._listener, limit=MAX_HEAD_BYTES
        )

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
        elif self._listener is not None:
            self._listener.close()
        self._server, self._listener = None, None
        if self._starting is not None and not self._starting.done():
            self._starting.cancel()
        self._starting = None
        for task in list(self._connections):
            task.cancel()
        self._pending.clear()
        self.port = None

    def register(self, work: PendingWork) -> str:
        token = os.urandom(16).hex()
        self._pending[token] = work
        return token

    def forget(self, token: str) -> None:
        """The flow ended before its request reached the endpoint."""
        self._pending.pop(token, None)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        try:
            await self._handle(reader, writer)
        except (BadRequest, asyncio.LimitOverrunError, ValueError) as err:
            logger.warning(f"lambda-route intake: bad request from mitmproxy: {err}")
            write_answer(writer, "GET", LoopbackAnswer(400, "Bad Request", (), b""))
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # mitmproxy gave up on the flow (the client went away)
        finally:
            if task is not None:
                self._connections.discard(task)
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        request_line, *lines = head[:-4].split(b"\r\n")
        method = request_line.split(b" ", 1)[0].decode("ascii", "replace")
        token = ""
        length: int | None = None
        chunked = False
        for line in lines:
            name, _, value = line.partition(b":")
            name, value = name.strip().lower(), value.strip()
            if name == TOKEN_HEADER.encode():
                token = value.decode("ascii", "replace")
            elif name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = value.lower().endswith(b"chunked")
        work = self._pending.pop(token, None)
        if work is None:
            # not a flow the addon sent here: nothing to answer it with
            write_answer(writer, method, LoopbackAnswer(403, "Forbidden", (), b""))
            return
        work.arrived()
        sink = Sink(work.keep_up_to, work.drop_over_limit)
        refused = False
        if length is not None and not chunked and sink.refuses(length):
            write_answer(writer, method, work.refuse(length))
            refused = True
        pieces = chunked_pieces(reader) if chunked else length_pieces(reader, length or 0)
        async for piece in pieces:
            sink.feed(piece)
            if sink.refused and not refused:
                write_answer(writer, method, work.refuse(None))
                refused = True
        if refused:
            await writer.drain()
            return
        answer = await work.answer(ReceivedBody(sink.body(), sink.size, sink.dropped))
        if isinstance(answer, StreamedAnswer):
            await relay_answer(reader, writer, method, answer)
            return
        write_answer(writer, method, answer)
        await writer.drain()

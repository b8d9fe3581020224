"""InvokeWithResponseStream: the function's bytes as event-stream frames, as they are written.

The answer is 200 ``application/vnd.amazon.eventstream`` (chunked), sent before the
function runs; each piece the function streams goes out at once as a ``PayloadChunk``
event, and one ``InvokeComplete`` event ends the stream: ``ErrorCode`` (the error's
``errorType``) and ``ErrorDetails`` (its ``errorMessage``) when the function failed,
before or during the stream, timed out or crashed, and ``LogResult`` with ``Tail``. A
function that does not stream (any Python handler, a plain Node.js handler) has its whole
answer sent as one ``PayloadChunk``. aiohttp's ``write`` waits while the client is slow,
which holds the function back through the Runtime API (see ``response_stream``): the
stream is never held whole. A client that goes away does not stop the function, as on AWS.
"""

from __future__ import annotations

import json
import logging

from aiohttp import web

from local_lambda.errors import RESPONSE_LIMIT, response_too_large
from local_lambda.eventstream import CONTENT_TYPE, invoke_complete, payload_chunk
from local_lambda.workers import Call, Outcome, WorkerManager

_log = logging.getLogger("local_lambda")


class _ClientSink:
    """Writes frames to the client; once it has gone, drops them."""

    def __init__(self, request: web.Request, response: web.StreamResponse) -> None:
        self._request = request
        self._response = response
        self.gone = False

    async def start(self) -> None:
        try:
            await self._response.prepare(self._request)
        except ConnectionError:
            self.gone = True

    async def write(self, frame: bytes) -> None:
        if self.gone:
            return
        try:
            await self._response.write(frame)
        except ConnectionError:
            self.gone = True

    async def chunk(self, data: bytes) -> None:
        await self.write(payload_chunk(data))

    async def finish(self) -> None:
        if not self.gone:
            try:
                await self._response.write_eof()
            except ConnectionError:
                self.gone = True


async def stream_invocation(
    request: web.Request, call: Call, manager: WorkerManager, *, log_tail: bool
) -> tuple[web.StreamResponse, Outcome | None]:
    """Run a reserved invocation (see ``WorkerManager.reserve``) into an event stream."""
    response = web.StreamResponse(
        status=200,
        headers={
            "Content-Type": CONTENT_TYPE,
            "X-Amz-Executed-Version": call.target.version,
            "x-amzn-RequestId": call.request_id,
        },
    )
    sink = _ClientSink(request, response)
    await sink.start()
    outcome: Outcome | None = None
    try:
        outcome = await manager.invoke(call, sink.chunk)
    except Exception:
        _log.exception("invocation %s failed in the server", call.request_id)
        complete = invoke_complete("ServiceException", "The local Lambda server failed.")
    else:
        payload, failed = outcome.payload, outcome.function_error
        if not failed and len(payload) > RESPONSE_LIMIT:
            payload, failed = response_too_large(), True
        error_code = error_details = None
        if failed:
            error_code, error_details = error_fields(payload)
        elif payload:
            await sink.chunk(payload)
        tail = outcome.log_tail() if log_tail else None
        complete = invoke_complete(error_code, error_details, tail)
    await sink.write(complete)
    await sink.finish()
    return response, outcome


def error_fields(payload: bytes) -> tuple[str, str]:
    """``ErrorCode`` and ``ErrorDetails`` of the error object a function failed with."""
    try:
        error = json.loads(payload)
    except ValueError:
        error = None
    if not isinstance(error, dict):
        return "Unhandled", payload.decode("utf-8", "replace")
    return str(error.get("errorType") or "Unhandled"), str(error.get("errorMessage") or "")

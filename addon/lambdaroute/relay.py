"""``invoke_mode: RESPONSE_STREAM``: a Lambda response stream relayed to the client as the
function writes it.

``open_relay`` starts ``InvokeWithResponseStream`` and reads up to the first chunk and the
``HttpResponseStream`` prelude (``streaming.prelude``): until then nothing has reached the
client, so any failure (the call, a function error, a broken or bad stream, a timeout) is
raised as an ``InvocationError`` and becomes the usual 502/504 JSON. After that the head is
sent and ``RelayedStream.body`` yields each chunk as it arrives; a failure from then on (an
``InvokeComplete`` with ``ErrorCode``, a dropped connection, a timeout) raises
``StreamAborted``, so that the client's response ends without a clean end, and is kept in
``RelayedStream.progress`` for the flow record. The function's logs (``LogResult``) are
recorded and logged, never sent. Nothing holds more than one chunk.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass, field

from .config import LambdaPluginConfig
from .errors import FunctionFailedError, InvokeTimeoutError
from .function_errors import FunctionError, stream_function_error
from .intake_types import StreamAborted
from .streaming.invoke import LambdaStreamClient, ResponseStream, ResponseStreamError, StreamOutcome
from .streaming.prelude import PreludeParser, StreamHead


class StreamFunctionError(FunctionFailedError):
    """The function failed before it wrote a byte (its logs kept for the record)."""

    def __init__(
        self,
        failure: FunctionError,
        *,
        status_code: int,
        lambda_request_id: str | None,
        function_logs: str | None,
    ) -> None:
        super().__init__(failure, status_code=status_code, lambda_request_id=lambda_request_id)
        self.function_logs = function_logs


@dataclass(slots=True)
class RelayProgress:
    """What a relayed stream did; ``outcome`` is ``streaming`` until it ends, then
    ``complete``, ``function error``, ``broken`` or ``client went away``."""

    first_byte_ms: float | None = None  # from the call's start to the first body byte sent
    chunks: int = 0  # payload chunks received from Lambda
    bytes: int = 0  # body bytes relayed to the client
    outcome: str = "streaming"
    error: str | None = None  # what broke the stream, or the function's error
    error_code: str | None = None
    function_logs: str | None = None
    lambda_request_id: str | None = None
    executed_version: str | None = None
    lambda_status: int | None = None
    failure: FunctionError | None = field(default=None)

    def as_record(self) -> dict[str, object]:
        return {
            "first_byte_ms": None if self.first_byte_ms is None else round(self.first_byte_ms, 3),
            "chunks": self.chunks,
            "bytes": self.bytes,
            "outcome": self.outcome,
            "error_code": self.error_code,
        }


class RelayedStream:
    """A stream whose head is known; iterate ``body()`` once to relay the rest."""

    def __init__(
        self,
        stream: ResponseStream,
        chunks: AsyncIterator[bytes],
        parser: PreludeParser,
        head: StreamHead,
        first: bytes,
        started: float,
    ) -> None:
        self.head = head
        self.progress = RelayProgress(
            lambda_request_id=stream.request_id,
            executed_version=stream.executed_version,
            lambda_status=stream.status,
        )
        self._stream = stream
        self._chunks = chunks
        self._parser = parser
        self._first = first
        self._started = started
        self.progress.chunks = stream.chunks

    async def body(self, on_end: Callable[[RelayProgress], None]) -> AsyncGenerator[bytes, None]:
        """The body pieces; raises ``StreamAborted`` once the stream failed. ``on_end`` is
        called once, however the relay ends (the client going away included)."""
        progress = self.progress
        try:
            if self._first:
                yield self._sent(self._first)
            async for chunk in self._chunks:
                progress.chunks = self._stream.chunks
                piece = self._parser.feed(chunk)
                if piece:
                    yield self._sent(piece)
            self._ended(self._stream.outcome)
            if progress.outcome != "complete":
                raise StreamAborted(progress.error)
        except ResponseStreamError as err:
            progress.outcome, progress.error = "broken", err.detail
            progress.error_code = err.error_code
            raise StreamAborted(err.detail) from None
        finally:
            if progress.outcome == "streaming":
                progress.outcome = "client went away"
            await _close(self._chunks)
            progress.chunks = self._stream.chunks
            on_end(progress)

    async def close(self) -> None:
        """Abandon the stream before its body was relayed (e.g. a HEAD request)."""
        await _close(self._chunks)

    def _sent(self, piece: bytes) -> bytes:
        if self.progress.first_byte_ms is None:
            self.progress.first_byte_ms = (time.perf_counter() - self._started) * 1000
        self.progress.bytes += len(piece)
        return piece

    def _ended(self, outcome: StreamOutcome | None) -> None:
        progress = self.progress
        if outcome is None:
            progress.outcome = "broken"
            return
        progress.function_logs = outcome.function_logs
        if outcome.error_code:
            progress.outcome = "function error"
            progress.error_code = outcome.error_code
            progress.failure = stream_function_error(outcome.error_code, outcome.error_details)
            progress.error = f"the function failed mid-stream: {progress.failure.summary()}"
        else:
            progress.outcome = "complete"


async def open_relay(
    client: LambdaStreamClient, plugin: LambdaPluginConfig, payload: bytes
) -> RelayedStream:
    """Start the stream and read up to its head and first chunk. Raises an
    ``InvocationError`` (the gateway error) for anything that goes wrong before that."""
    started = time.perf_counter()
    stream = await client.invoke_stream(plugin, payload)
    chunks = aiter(stream)
    parser = PreludeParser(stream.content_type)
    try:
        first = b""
        while parser.head is None or not stream.chunks:
            chunk = await anext(chunks, None)
            if chunk is None:  # the stream ended (cleanly or with the function's error)
                first = parser.finish()
                _raise_function_error(plugin, stream)
                break
            first = parser.feed(chunk)
    except ResponseStreamError as err:
        await _close(chunks)
        if err.error_code == "Timeout":
            raise InvokeTimeoutError(err.detail) from None
        raise
    except BaseException:
        await _close(chunks)
        raise
    assert parser.head is not None
    head = parser.head
    if stream.status == 204:  # DryRun: no body
        head = StreamHead(204, (), from_prelude=False)
    return RelayedStream(stream, chunks, parser, head, first, started)


def _raise_function_error(plugin: LambdaPluginConfig, stream: ResponseStream) -> None:
    """A function that failed before it wrote anything: a gateway error naming it."""
    outcome = stream.outcome
    if outcome is None or not outcome.error_code:
        return
    failure = stream_function_error(outcome.error_code, outcome.error_details)
    status = 502
    if plugin.unhandled_status is not None and failure.kind == "Unhandled":
        status = plugin.unhandled_status
    raise StreamFunctionError(
        failure,
        status_code=status,
        lambda_request_id=stream.request_id,
        function_logs=outcome.function_logs,
    )


async def _close(chunks: AsyncIterator[bytes]) -> None:
    aclose = getattr(chunks, "aclose", None)
    if aclose is not None:
        await aclose()

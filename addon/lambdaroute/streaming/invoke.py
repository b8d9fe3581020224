"""``InvokeWithResponseStream``: the signed call and its event stream, chunk by chunk.

``POST /2021-11-15/functions/{FunctionName}/response-streaming-invocations`` with the
same endpoint resolution, credentials, signer and connection pools as the Invoke call
(``invocation``), ``Qualifier`` as the query, ``X-Amz-Invocation-Type`` (RequestResponse
or DryRun: AWS has no Event here), ``X-Amz-Log-Type`` and, when given,
``X-Amz-Client-Context``. The answer's frames are decoded by botocore (``eventstream``):
``PayloadChunk`` events are yielded as they arrive, ``InvokeComplete`` ends the stream
with its ``ErrorCode``, ``ErrorDetails`` and ``LogResult``.

Errors before the stream (connection, signature, a 4xx/5xx answer, ``timeout`` before the
head) raise the same ``InvocationError`` subclasses as ``invoke``, so they become the
usual 502/504 JSON. Once the stream has started, a failure (an exception event, a
dropped connection, a malformed frame, ``timeout`` passing with no new frame) raises
``ResponseStreamError`` from the iteration; ``ResponseStream.outcome`` records how the
stream ended in every case. ``timeout`` bounds the wait for the head and then each wait
for a frame, not the whole stream (a stream may run as long as the function does).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import dataclasses
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from botocore.utils import percent_encode

from ..aws_errors import secrets_of, service_error, transport_error
from ..config import LambdaPluginConfig
from ..credentials import CredentialProviders
from ..endpoints import InvokeEndpoint, build_endpoint, require_function_name
from ..errors import InvocationError, InvokeTimeoutError
from ..http_client import HttpClient
from ..http_errors import HttpError
from ..invocation import USER_AGENT
from ..invoke_target import CallShape, Target, Targets
from ..signing import AwsCredentials, RequestSigner
from .eventstream import EventStreamDecodeError, EventStreamDecoder
from .httpstream import StreamedResponse, post_streamed

#: bound on an error answer's body read for its message
_MAX_ERROR_BODY = 64 * 1024


class ResponseStreamError(InvocationError):
    """The stream failed after it started; the client's response cannot end cleanly."""

    status_code = 502
    public_message = "Bad Gateway"

    def __init__(self, detail: str, *, error_code: str) -> None:
        super().__init__(detail)
        self.error_code = error_code


@dataclass(frozen=True, slots=True)
class StreamOutcome:
    """How a stream ended. ``error_code`` is None only for a clean, complete stream."""

    complete: bool  # InvokeComplete (or a 204 DryRun) arrived
    error_code: str | None = None  # InvokeComplete's ErrorCode, an exception type, or ours
    error_details: str | None = None
    function_logs: str | None = None  # LogResult, decoded (never for the client)

    @property
    def ok(self) -> bool:
        return self.complete and self.error_code is None


def streaming_path(function_name: str) -> str:
    return f"/2021-11-15/functions/{percent_encode(function_name)}/response-streaming-invocations"


def streaming_endpoint(plugin: LambdaPluginConfig, region: str, hostname: str) -> InvokeEndpoint:
    return dataclasses.replace(
        build_endpoint(plugin, region, hostname),
        path=streaming_path(require_function_name(plugin)),
    )


def streaming_signer(
    plugin: LambdaPluginConfig,
    endpoint: InvokeEndpoint,
    *,
    client_context: str | None = None,
    user_agent: str = USER_AGENT,
) -> RequestSigner:
    """The signer of one plugin's streaming calls (``client_context``: base64 JSON)."""
    if plugin.invocation_type == "Event":
        raise InvocationError(
            "invocation_type Event cannot be used with response streaming "
            "(InvokeWithResponseStream takes RequestResponse or DryRun)"
        )
    headers = {
        "Host": endpoint.host_header,
        "X-Amz-Invocation-Type": plugin.invocation_type,
        "X-Amz-Log-Type": plugin.log_type,
    }
    if client_context:
        headers["X-Amz-Client-Context"] = client_context
    headers["User-Agent"] = user_agent
    return RequestSigner(
        method="POST",
        path=endpoint.path,
        query=endpoint.query,
        headers=headers,
        region=endpoint.region,
    )


class ResponseStream:
    """An answered stream: ``async for chunk in stream`` yields the payload bytes."""

    def __init__(
        self, response: StreamedResponse, target: Target, timeout_s: float | None, started: float
    ) -> None:
        self._response = response
        self._target = target
        self._timeout_s = timeout_s
        self._started = started
        self.status = response.status  # 200, or 204 for DryRun
        self.content_type = response.header("Content-Type")
        self.executed_version = response.header("X-Amz-Executed-Version")
        self.request_id = response.header("x-amzn-RequestId")
        self.outcome: StreamOutcome | None = None
        self.chunks = 0
        self.bytes = 0
        self.first_byte_ms: float | None = None  # since the call started

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks()

    def close(self) -> None:
        """Drop the connection (the client went away, or the stream is done)."""
        self._response.close()

    async def _chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._events():
                if self.first_byte_ms is None:
                    self.first_byte_ms = (time.perf_counter() - self._started) * 1000
                self.chunks += 1
                self.bytes += len(chunk)
                yield chunk
        finally:
            self._response.close()
            if self.outcome is None:  # the reader stopped early
                self.outcome = StreamOutcome(False, "Abandoned", "the reader stopped")

    async def _events(self) -> AsyncIterator[bytes]:
        decoder = EventStreamDecoder()
        pieces = aiter(self._response)
        authority = self._target.endpoint.authority
        while True:
            try:
                async with asyncio.timeout(self._timeout_s):
                    piece = await anext(pieces, None)
            except TimeoutError:
                waited = (self._timeout_s or 0) * 1000
                raise self._failed(
                    "Timeout", f"no stream data from {authority} for {waited:g} ms"
                ) from None
            except HttpError as exc:
                raise self._failed(
                    "Disconnected", f"the stream from {authority} broke: {exc}"
                ) from exc
            if piece is None:
                break
            try:
                messages = decoder.feed(piece)
            except EventStreamDecodeError as exc:
                raise self._failed("MalformedStream", f"invalid event stream: {exc}") from None
            for message in messages:
                headers = message.headers
                message_type = headers.get(":message-type")
                if message_type in ("exception", "error"):
                    code, text = _exception(headers, message.payload)
                    raise self._failed(code, text)
                event_type = headers.get(":event-type")
                if event_type == "PayloadChunk":
                    if message.payload:
                        yield message.payload
                elif event_type == "InvokeComplete":
                    self.outcome = _complete(message.payload)
                    return
        if self.status == 204 and not decoder.partial:
            self.outcome = StreamOutcome(True)
            return
        raise self._failed(
            "Disconnected", f"the stream from {authority} ended without InvokeComplete"
        )

    def _failed(self, code: str, detail: str) -> ResponseStreamError:
        self.outcome = StreamOutcome(False, code, detail)
        name = self._target.function_name
        return ResponseStreamError(
            f"the response stream of {name!r} failed: {detail}", error_code=code
        )


def _exception(headers: dict[str, object], payload: bytes) -> tuple[str, str]:
    """botocore's reading of an exception / error event."""
    if headers.get(":message-type") == "exception":
        code = str(headers.get(":exception-type", "") or "Exception")
        try:
            body = json.loads(payload) if payload else {}
        except ValueError:
            body = {}
        message = body.get("Message", body.get("message", "")) if isinstance(body, dict) else ""
        return code, f"{code}: {message}"
    code = str(headers.get(":error-code", "") or "Error")
    return code, f"{code}: {headers.get(':error-message', '')}"


def _complete(payload: bytes) -> StreamOutcome:
    try:
        fields = json.loads(payload) if payload else {}
    except ValueError:
        fields = {}
    if not isinstance(fields, dict):
        fields = {}
    logs = fields.get("LogResult")
    decoded: str | None = None
    if isinstance(logs, str) and logs:
        try:
            decoded = base64.b64decode(logs).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            decoded = None
    code = fields.get("ErrorCode")
    details = fields.get("ErrorDetails")
    return StreamOutcome(
        True,
        code if isinstance(code, str) and code else None,
        details if isinstance(details, str) and details else None,
        decoded,
    )


STREAM = CallShape(
    "stream",
    streaming_endpoint,
    lambda plugin, endpoint, user_agent: streaming_signer(plugin, endpoint, user_agent=user_agent),
)


class LambdaStreamClient:
    """Streaming invocations. Given the Invoke client's ``targets`` (``LambdaClient.
    targets``), it shares its connection pools, hostname lookups and credential caches;
    else it makes its own (over ``http`` / ``credentials`` when given)."""

    def __init__(
        self,
        *,
        targets: Targets | None = None,
        http: HttpClient | None = None,
        credentials: CredentialProviders | None = None,
        verify_tls: bool = True,
        user_agent: str = USER_AGENT,
    ) -> None:
        self._own_http = targets is None and http is None
        self._own_credentials = targets is None and credentials is None
        self._targets = targets or Targets(
            http or HttpClient(verify_tls=verify_tls),
            credentials or CredentialProviders(verify_tls=verify_tls),
            user_agent=user_agent,
        )

    async def invoke_stream(
        self, plugin: LambdaPluginConfig, payload: bytes, *, client_context: str | None = None
    ) -> ResponseStream:
        """Start the stream. Raises an ``InvocationError`` subclass before it starts."""
        started = time.perf_counter()
        timeout_s = plugin.timeout / 1000 if plugin.timeout > 0 else None
        target: Target | None = None
        credentials: AwsCredentials | None = None
        stage = "preparing the call"
        try:
            async with asyncio.timeout(timeout_s):
                target = await self._targets.prepare(plugin, STREAM)
                stage = "waiting for AWS credentials"
                credentials = await target.credentials.get()
                signer = (
                    streaming_signer(
                        plugin,
                        target.endpoint,
                        client_context=client_context,
                        user_agent=self._targets.user_agent,
                    )
                    if client_context
                    else target.signer
                )
                headers = signer.sign(credentials, payload)
                stage = "calling Lambda"
                response = await post_streamed(
                    target.transport, target.endpoint.host_header, headers, payload
                )
        except TimeoutError as exc:
            detail = f"the invocation timed out after {plugin.timeout:g} ms while {stage}"
            raise InvokeTimeoutError(detail) from exc
        except (HttpError, OSError) as exc:
            if target is None:
                raise
            raise transport_error(exc, target, secrets_of(credentials)) from exc
        if response.status >= 400:
            try:
                async with asyncio.timeout(timeout_s):
                    body = await response.read(_MAX_ERROR_BODY)
            except (TimeoutError, HttpError):
                body = b""
            finally:
                response.close()
            raise service_error(
                response.status,
                response.reason,
                response.headers,
                body,
                target.function_name,
                secrets_of(credentials),
            )
        return ResponseStream(response, target, timeout_s, started)

    async def close(self) -> None:
        if self._own_http:
            await self._targets.http.close()
        if self._own_credentials:
            await self._targets.credentials.close()

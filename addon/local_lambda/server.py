"""The aiohttp application that speaks the Lambda Invoke API as AWS does.

``POST /2015-03-31/functions/{FunctionName}/invocations[?Qualifier=...]``, with the
invocation types, Tail logs, client context and the AWS error responses, and
``POST /2021-11-15/functions/{FunctionName}/response-streaming-invocations``
(InvokeWithResponseStream, see ``streaming``), which checks its request the same way. The
body is read (and drained) before anything else, so that an oversized payload gets AWS's
413 rather than a connection reset.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from local_lambda.console import ConsoleEcho
from local_lambda.errors import (
    ASYNC_PAYLOAD_LIMIT,
    RESPONSE_LIMIT,
    SYNC_PAYLOAD_LIMIT,
    ServiceError,
    invalid_parameter,
    invalid_request_content,
    request_too_large,
    response_too_large,
    service_failure,
    unknown_operation,
)
from local_lambda.functions import FunctionTable, Target
from local_lambda.sigv4 import SignatureVerifier
from local_lambda.streaming import stream_invocation
from local_lambda.workers import Call, Outcome, WorkerManager

INVOKE_PATH = "/2015-03-31/functions/{function}/invocations"
STREAM_PATH = "/2021-11-15/functions/{function}/response-streaming-invocations"
INVOCATION_TYPES = ("RequestResponse", "Event", "DryRun")
STREAM_INVOCATION_TYPES = ("RequestResponse", "DryRun")
LOG_TYPES = ("None", "Tail")
CLIENT_CONTEXT_LIMIT = 3583
_PARSE_IN_THREAD = 256 * 1024
_log = logging.getLogger("local_lambda")


@dataclass(frozen=True, slots=True)
class Accepted:
    """An invocation request that passed the checks: what to run and how to answer."""

    target: Target
    body: bytes
    invocation_type: str
    log_type: str
    client_context: dict[str, Any] | None


class LocalLambda:
    """Request handling; owns the background Event invocations."""

    def __init__(
        self,
        table: FunctionTable,
        manager: WorkerManager,
        verifier: SignatureVerifier | None,
        echo: ConsoleEcho | None = None,
    ) -> None:
        self._table = table
        self._manager = manager
        self._verifier = verifier
        self._echo = echo
        self._background: set[asyncio.Task[None]] = set()

    def app(self) -> web.Application:
        # client_max_size is not used: bodies are read from request.content (see read_body).
        app = web.Application()
        app.router.add_post(INVOKE_PATH, self.handle_invoke)
        app.router.add_post(STREAM_PATH, self.handle_stream)
        app.router.add_route("*", "/{path:.*}", self.handle_unknown)
        return app

    async def close(self) -> None:
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        await self._manager.close()

    async def handle_unknown(self, request: web.Request) -> web.Response:
        await read_body(request, 0)
        return error_response(unknown_operation(), str(uuid.uuid4()))

    async def handle_invoke(self, request: web.Request) -> web.Response:
        request_id = str(uuid.uuid4())
        try:
            return await self._invoke(request, request_id)
        except ServiceError as exc:
            return error_response(exc, request_id)
        except Exception:
            _log.exception("invocation %s failed in the server", request_id)
            return error_response(service_failure("The local Lambda server failed."), request_id)

    async def _accept(self, request: web.Request, invocation_types: tuple[str, ...]) -> Accepted:
        """Read the body and check the request as AWS does, or raise its ServiceError."""
        body = await read_body(request, SYNC_PAYLOAD_LIMIT)
        if body is None:
            raise request_too_large(SYNC_PAYLOAD_LIMIT)
        if self._verifier is not None:
            self._verifier.verify(request.method, request.raw_path, request.headers, body)
        headers = request.headers
        invocation_type = headers.get("X-Amz-Invocation-Type", "RequestResponse")
        if invocation_type not in invocation_types:
            raise _enum_error(invocation_type, "invocationType", invocation_types)
        log_type = headers.get("X-Amz-Log-Type", "None")
        if log_type not in LOG_TYPES:
            raise _enum_error(log_type, "logType", LOG_TYPES)
        target = self._table.resolve(request.match_info["function"], request.query.get("Qualifier"))
        if invocation_type == "Event" and len(body) > ASYNC_PAYLOAD_LIMIT:
            raise request_too_large(ASYNC_PAYLOAD_LIMIT)
        await check_json(body)
        client_context = decode_client_context(headers.get("X-Amz-Client-Context"))
        return Accepted(target, body, invocation_type, log_type, client_context)

    def _call(self, request: web.Request, request_id: str, accepted: Accepted) -> Call:
        trace_id = request.headers.get("X-Amzn-Trace-Id") or new_trace_id()
        return Call(accepted.target, request_id, accepted.body, accepted.client_context, trace_id)

    async def _invoke(self, request: web.Request, request_id: str) -> web.Response:
        accepted = await self._accept(request, INVOCATION_TYPES)
        invocation_type, target = accepted.invocation_type, accepted.target
        response_headers = {"x-amzn-RequestId": request_id}
        if invocation_type == "DryRun":
            return web.Response(status=204, headers=response_headers)
        call = self._call(request, request_id, accepted)
        if invocation_type == "Event":
            task = asyncio.create_task(self._run_event(call))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
            return web.Response(status=202, headers=response_headers)
        self._manager.reserve(target.spec.name)
        outcome = await self._manager.invoke(call)
        self._emit_log(outcome)
        payload, failed = outcome.payload, outcome.function_error
        if len(payload) > RESPONSE_LIMIT:
            payload, failed = response_too_large(), True
        response_headers["Content-Type"] = "application/json"
        response_headers["X-Amz-Executed-Version"] = target.version
        if failed:
            response_headers["X-Amz-Function-Error"] = "Unhandled"
        if accepted.log_type == "Tail":
            response_headers["X-Amz-Log-Result"] = outcome.log_tail()
        return web.Response(status=200, body=payload, headers=response_headers)

    async def handle_stream(self, request: web.Request) -> web.StreamResponse:
        """InvokeWithResponseStream: errors before the stream are ordinary AWS errors."""
        request_id = str(uuid.uuid4())
        try:
            accepted = await self._accept(request, STREAM_INVOCATION_TYPES)
            if accepted.invocation_type == "DryRun":
                return web.Response(status=204, headers={"x-amzn-RequestId": request_id})
            self._manager.reserve(accepted.target.spec.name)
        except ServiceError as exc:
            return error_response(exc, request_id)
        except Exception:
            _log.exception("invocation %s failed in the server", request_id)
            return error_response(service_failure("The local Lambda server failed."), request_id)
        call = self._call(request, request_id, accepted)
        response, outcome = await stream_invocation(
            request, call, self._manager, log_tail=accepted.log_type == "Tail"
        )
        if outcome is not None:
            self._emit_log(outcome)
        return response

    async def _run_event(self, call: Call) -> None:
        await self._manager.reserve_when_free(call.target.spec.name)
        try:
            outcome = await self._manager.invoke(call)
        except Exception:
            _log.exception("Event invocation %s failed in the server", call.request_id)
        else:
            self._emit_log(outcome)

    def _emit_log(self, outcome: Outcome) -> None:
        """Print the invocation's log on the server's stdout, as SAM does."""
        if self._echo is not None:
            self._echo.write(outcome.log)


async def read_body(request: web.Request, limit: int) -> bytes | None:
    """The whole body, or None (after draining it) if it is larger than ``limit``."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
        if size <= limit:
            chunks.append(chunk)
        elif chunks:
            chunks.clear()
    return None if size > limit else b"".join(chunks)


async def check_json(body: bytes) -> None:
    """Reject a payload that is not JSON (an empty payload is the event ``{}``)."""
    if not body:
        return
    try:
        if len(body) > _PARSE_IN_THREAD:
            await asyncio.to_thread(json.loads, body)
        else:
            json.loads(body)
    except ValueError as exc:
        raise invalid_request_content(
            f"Could not parse request body into json: Could not parse payload into json: {exc}"
        ) from None


def new_trace_id() -> str:
    """An X-Ray trace header as Lambda makes one for an untraced request (not sampled)."""
    return (
        f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)};"
        f"Parent={secrets.token_hex(8)};Sampled=0"
    )


def decode_client_context(header: str | None) -> dict[str, Any] | None:
    if not header:
        return None
    if len(header) > CLIENT_CONTEXT_LIMIT:
        raise invalid_parameter(f"Client context must be at most {CLIENT_CONTEXT_LIMIT} bytes.")
    try:
        context = json.loads(base64.b64decode(header, validate=True))
    except (binascii.Error, ValueError):
        context = None
    if not isinstance(context, dict):
        raise invalid_request_content("Client context must be a valid Base64-encoded JSON object.")
    return context


def error_response(error: ServiceError, request_id: str) -> web.Response:
    return web.Response(
        status=error.status,
        body=json.dumps(error.body).encode(),
        headers={
            "Content-Type": "application/json",
            "x-amzn-RequestId": request_id,
            "x-amzn-ErrorType": error.error_type,
            **error.headers,
        },
    )


def _enum_error(value: str, member: str, allowed: tuple[str, ...]) -> ServiceError:
    return ServiceError(
        400,
        "ValidationException",
        {
            "message": f"1 validation error detected: Value '{value}' at '{member}' failed to "
            f"satisfy constraint: Member must satisfy enum value set: [{', '.join(allowed)}]"
        },
    )

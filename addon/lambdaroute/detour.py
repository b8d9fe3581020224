"""Pointing a routed flow at the addon's intake endpoint, and back.

A routed flow is answered in-process (its body buffered by mitmproxy, as any flow's) only
when mitmproxy can never decide to stream it: a known Content-Length that is within the
addon's bounds and within ``stream_large_bodies``. Any other routed flow (a larger body, a
chunked one, an HTTP/2 or HTTP/3 request without Content-Length) is sent to the intake
endpoint instead, with ``request.stream`` on, so that mitmproxy streams its body there and
never to the upstream.
"""

from __future__ import annotations

import weakref
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass

from mitmproxy import connection, http

from .intake import IntakeEndpoint
from .intake_types import (
    TOKEN_HEADER,
    LoopbackAnswer,
    PendingWork,
    ReceivedBody,
    StreamedAnswer,
)


@dataclass(frozen=True, slots=True)
class Origin:
    """Where the flow's request was going, restored once the endpoint has it."""

    scheme: bytes
    host: str
    port: int
    #: we added ``Transfer-Encoding: chunked`` so that mitmproxy frames a body of unknown
    #: size on its HTTP/1 connection to the endpoint (an HTTP/2 or 3 request without
    #: Content-Length would otherwise be sent unframed)
    added_chunked: bool


def known_body_size(request: http.Request) -> int | None:
    """The body size the request announces, or None when it is not known in advance.

    One pass over the raw header fields: ``Headers.get`` builds a list per lookup, which
    cost more than the rest of the routing decision on every routed flow."""
    length: bytes | None = None
    for name, value in request.headers.fields:
        if len(name) == 17 and name.lower() == b"transfer-encoding":
            if b"chunked" in value.lower():
                return None
        elif len(name) == 14 and name.lower() == b"content-length":
            length = value
    if length is None:
        # HTTP/1 without either header has no body; HTTP/2 and 3 may send one anyway
        return None if request.is_http2 or request.is_http3 else 0
    try:
        return int(length)
    except ValueError:
        return None


def point_at_intake(flow: http.HTTPFlow, port: int, token: str) -> Origin:
    """Send the flow's request (streamed) to the intake endpoint on 127.0.0.1:``port``.

    The request's host/port/scheme say where mitmproxy connects; a fresh ``server_conn``
    without ``via`` makes it connect directly, also in upstream mode (mitmproxy takes the
    upstream proxy from ``flow.server_conn.via``), and leaves the client connection's own
    server object (shared by its other streams) alone.
    """
    request = flow.request
    added_chunked = known_body_size(request) is None and "transfer-encoding" not in request.headers
    origin = Origin(request.data.scheme, request.data.host, request.data.port, added_chunked)
    if added_chunked:
        request.headers["transfer-encoding"] = "chunked"
    request.data.scheme = b"http"
    request.data.host = "127.0.0.1"
    request.data.port = port
    request.headers[TOKEN_HEADER] = token
    flow.server_conn = connection.Server(address=("127.0.0.1", port))
    request.stream = True
    return origin


def restore_origin(flow: http.HTTPFlow, origin: Origin) -> None:
    """Show the request as the client sent it again (mitmproxy has sent its head)."""
    request = flow.request
    request.data.scheme = origin.scheme
    request.data.host = origin.host
    request.data.port = origin.port
    request.headers.pop(TOKEN_HEADER, None)


def drop_added_framing(flow: http.HTTPFlow, origin: Origin) -> None:
    """Remove the Transfer-Encoding we added, once the whole body has been sent (mitmproxy
    reads the header for every chunk it frames)."""
    if origin.added_chunked:
        flow.request.headers.pop("transfer-encoding", None)


@dataclass(frozen=True, slots=True)
class IntakePlan:
    """What the intake endpoint is to do with a flow's body (see ``PendingWork``)."""

    keep_up_to: int
    drop_over_limit: bool
    answer: Callable[[ReceivedBody], Awaitable[LoopbackAnswer | StreamedAnswer]]
    refuse: Callable[[int | None], LoopbackAnswer]


class Detours:
    """The flows sent to the intake endpoint, from ``requestheaders`` to ``response``."""

    def __init__(self, intake: IntakeEndpoint) -> None:
        self.intake = intake
        #: the exact response of a flow answered by the intake endpoint, swapped in in
        #: ``response`` (the endpoint's copy went through HTTP/1 framing)
        self._answers: weakref.WeakKeyDictionary[http.HTTPFlow, http.Response] = (
            weakref.WeakKeyDictionary()
        )
        self._tokens: weakref.WeakKeyDictionary[http.HTTPFlow, str] = weakref.WeakKeyDictionary()
        self._origins: weakref.WeakKeyDictionary[http.HTTPFlow, Origin] = (
            weakref.WeakKeyDictionary()
        )
        #: flows whose response the intake endpoint relays as a stream
        self.relayed: weakref.WeakSet[http.HTTPFlow] = weakref.WeakSet()

    def send(self, flow: http.HTTPFlow, plan: IntakePlan) -> Coroutine[None, None, None] | None:
        """Point the flow at the intake endpoint; wait for it first while it starts (a
        flow that comes right after start-up must not go upstream either)."""
        if self.intake.port is not None:
            self._point(flow, plan, self.intake.port)
            return None
        return self._point_once_listening(flow, plan)

    async def _point_once_listening(self, flow: http.HTTPFlow, plan: IntakePlan) -> None:
        port = await self.intake.start()
        if flow.live and not flow.error:
            self._point(flow, plan, port)

    def _point(self, flow: http.HTTPFlow, plan: IntakePlan, port: int) -> None:
        def arrived() -> None:
            self._tokens.pop(flow, None)
            restore_origin(flow, origin)

        async def answer(body: ReceivedBody) -> LoopbackAnswer | StreamedAnswer:
            drop_added_framing(flow, origin)
            return await plan.answer(body)

        work = PendingWork(plan.keep_up_to, plan.drop_over_limit, arrived, answer, plan.refuse)
        token = self.intake.register(work)
        self._tokens[flow] = token
        origin = point_at_intake(flow, port, token)
        self._origins[flow] = origin

    def loopback_answer(self, flow: http.HTTPFlow, response: http.Response) -> LoopbackAnswer:
        """The endpoint's answer for ``response``, which ``response`` puts in the flow."""
        self._answers[flow] = response
        return LoopbackAnswer(
            response.status_code,
            response.reason,
            tuple(response.headers.items(multi=True)),
            response.raw_content or b"",
        )

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        if flow in self.relayed and flow.response is not None:
            flow.response.stream = True  # relayed to the client chunk by chunk
            if flow.response.headers.get("connection", "").lower() == "close":
                del flow.response.headers["connection"]  # the loopback's, not the client's

    def response(self, flow: http.HTTPFlow) -> None:
        origin = self._origins.pop(flow, None)
        if origin is not None:
            drop_added_framing(flow, origin)
        answer = self._answers.pop(flow, None)
        if answer is not None:
            flow.response = answer

    def error(self, flow: http.HTTPFlow) -> None:
        token = self._tokens.pop(flow, None)
        if token is not None:  # the flow failed before its request reached the endpoint
            self.intake.forget(token)

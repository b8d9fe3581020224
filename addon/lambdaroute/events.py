"""Building the Invoke payload from the request (Kong's payload modes).

Mode selection is Kong's (``request-util.lua``), extended with the ALB event:

* ``function_url_compatible``: the Function URL event (``function_url``);
* ``awsgateway_compatible`` or ``alb_target_compatible``: ``apigateway.build_event``;
* else any ``forward_request_*`` flag: the forward-mode object (``request_method``,
  ``request_headers``, ``request_uri`` + ``request_uri_args``, ``request_body`` +
  ``request_body_args`` + ``request_body_base64``);
* else the query args merged with the parsed body (body keys win).

Deliberate differences from Kong:

* The payload is always valid JSON. Where Kong would put a body that is not UTF-8 into the
  JSON as raw bytes (forward mode with a raw content type such as ``text/plain``, with
  ``base64_encode_body`` off, or a JSON/form/multipart body that is not UTF-8), we send it
  base64-encoded with ``request_body_base64: true``. Text that is not UTF-8 inside query,
  form or header values becomes U+FFFD; see ``bodies`` for multipart parts.
* A top-level JSON array body with no query args is sent as the array, so ``[]`` stays
  ``[]`` (Kong's merge loses the array marker and sends ``{}``; non-empty arrays match).
  With query args, array items are merged under their 1-based index as a string key, as
  Kong's merge of a Lua array does.
* Numbers keep their full precision (Kong encodes with 16 significant digits), and the
  JSON is compact with non-ASCII characters as UTF-8.
* The body-size threshold is ours (``body_too_large``, computed by the addon); the flag
  means what "buffered to disk" means in Kong.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from . import apigateway
from .bodies import ArgValue, BodyError, args_table, base64_text, parse_body, parse_query
from .config import LambdaPluginConfig
from .endpoints import plugin_region
from .function_url import FunctionUrlSettings, function_url_event
from .snapshot import IncomingRequest

logger = logging.getLogger(__name__)

#: forward mode sends a body with one of these exact Content-Type values as it is
RAW_CONTENT_TYPES = frozenset(
    {"text/plain", "text/html", "application/xml", "text/xml", "application/soap+xml"}
)

#: ngx.req.get_headers' default limit, as Kong uses it
MAX_HEADERS = 100

_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


@dataclass(frozen=True, slots=True)
class Payload:
    """The Invoke payload and what the addon should log about building it."""

    #: the JSON bytes; ``b""`` when the payload could not be JSON-encoded (Kong then
    #: invokes with no payload, and so do we; the reason has been logged)
    data: bytes
    #: the body was larger than the buffer threshold and ``skip_large_bodies`` left it out
    #: (Kong logs "request body was buffered to disk, too large")
    body_skipped: bool


def build_payload(plugin: LambdaPluginConfig, request: IncomingRequest) -> Payload:
    """The payload for the Invoke call, in the plugin's mode (see the module docstring).

    ``body_skipped`` can only be true in the modes that read the raw body (Kong's
    ``read_request_body``): the gateway/ALB event and forward mode with
    ``forward_request_body``.
    """
    too_large_skipped = request.body_too_large and plugin.skip_large_bodies
    payload: dict[str, Any] | list[Any]
    if plugin.function_url_compatible:
        settings = FunctionUrlSettings.of(plugin, plugin_region(plugin))
        payload = function_url_event(plugin, request, settings)
        body_skipped = too_large_skipped
    elif plugin.awsgateway_compatible or plugin.alb_target_compatible:
        payload = apigateway.build_event(plugin, request)
        body_skipped = too_large_skipped
    elif (
        plugin.forward_request_method
        or plugin.forward_request_uri
        or plugin.forward_request_headers
        or plugin.forward_request_body
    ):
        payload = _forward_payload(plugin, request, skip_body=too_large_skipped)
        body_skipped = too_large_skipped and plugin.forward_request_body
    else:
        payload = _default_payload(request)
        body_skipped = False
    return Payload(data=_encode(payload), body_skipped=body_skipped)


def _default_payload(request: IncomingRequest) -> dict[str, Any] | list[Any]:
    """Query args merged with the body args; the body is never read when too large."""
    query: dict[str, Any] = parse_query(request.raw_query)
    body_args = parse_body(_content_type(request), request.body, too_large=request.body_too_large)
    if isinstance(body_args, BodyError):
        return query
    if not query:
        return body_args
    if isinstance(body_args, list):
        query.update((str(index), item) for index, item in enumerate(body_args, 1))
    else:
        query.update(body_args)
    return query


def _forward_payload(
    plugin: LambdaPluginConfig, request: IncomingRequest, *, skip_body: bool
) -> dict[str, Any]:
    payload: dict[str, Any] = {}
    if plugin.forward_request_method:
        payload["request_method"] = request.method
    if plugin.forward_request_headers:
        payload["request_headers"] = _header_table(request.headers)
    if plugin.forward_request_uri:
        payload["request_uri"] = (
            f"{request.raw_path}?{request.raw_query}" if request.raw_query else request.raw_path
        )
        payload["request_uri_args"] = parse_query(request.raw_query)
    if plugin.forward_request_body:
        _add_body(payload, plugin, request, skip_body=skip_body)
    return payload


def _add_body(
    payload: dict[str, Any],
    plugin: LambdaPluginConfig,
    request: IncomingRequest,
    *,
    skip_body: bool,
) -> None:
    """Kong's ``forward_request_body`` algorithm, plus base64 for bodies that are not UTF-8.

    ``raw`` is Kong's ``body_raw``: absent (None) when the body is empty or was skipped.
    """
    content_type = _content_type(request)
    raw = None if skip_body or not request.body else request.body
    body_args = parse_body(content_type, request.body, too_large=request.body_too_large)
    if isinstance(body_args, BodyError):
        if body_args.is_content_type_error:
            if content_type not in RAW_CONTENT_TYPES and plugin.base64_encode_body:
                payload["request_body"] = base64_text(raw or b"")
                payload["request_body_base64"] = True
            elif raw is not None:
                _add_raw_body(payload, raw)
            payload["request_body_args"] = {}
        elif raw is not None:
            _add_raw_body(payload, raw)
        return
    if raw is not None:
        _add_raw_body(payload, raw)
    payload["request_body_args"] = body_args


def _add_raw_body(payload: dict[str, Any], raw: bytes) -> None:
    try:
        payload["request_body"] = raw.decode("utf-8")
    except UnicodeDecodeError:
        payload["request_body"] = base64_text(raw)
        payload["request_body_base64"] = True


def _content_type(request: IncomingRequest) -> str | None:
    """The first Content-Type header's whole value, as ``kong.request.get_header``."""
    for name, value in request.headers:
        if len(name) == 12 and name.lower() == "content-type":
            return value
    return None


def _header_table(headers: tuple[tuple[str, str], ...]) -> dict[str, ArgValue]:
    """``kong.request.get_headers()``: lower-cased names, lists for repeats, first 100."""
    return args_table([(name.lower(), value) for name, value in headers[:MAX_HEADERS]])


def _encode(payload: dict[str, Any] | list[Any]) -> bytes:
    """Compact UTF-8 JSON; ``b""`` (no payload, as Kong) when it cannot be encoded.

    Lone surrogates (undecodable bytes carried in ``str`` values) become ``?`` so that the
    bytes are always valid UTF-8.
    """
    try:
        text = _ENCODER.encode(payload)
    except (ValueError, TypeError, RecursionError) as exc:
        logger.error(
            "could not JSON encode upstream body to forward request values: %s; "
            "invoking the function without a payload",
            exc,
        )
        return b""
    return text.encode("utf-8", "replace")

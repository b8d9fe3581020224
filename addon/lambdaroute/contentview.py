"""The ``Lambda`` content view: the Lambda side of a routed flow, in mitmweb and the console.

It renders ``flow.metadata["lambda_route"]`` (see ``flowrecord``): route and function, the
Lambda status, the function error, the timings, a relayed stream's outcome, time to first
byte, chunks and bytes, the payload sent (pretty JSON, a base64
body decoded when it is text), the function's raw result before shaping and the log tail.
It is the automatic choice for the response of a routed flow; other views stay one click
away. mitmproxy 11 has ``contentviews.base.View``; 12 has the ``Contentview`` protocol
(the old API still works there, with a deprecation warning): both are supported.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from mitmproxy import contentviews, http
from mitmproxy.utils import human

from .flowrecord import METADATA_KEY

NAME = "Lambda"
#: above mitmproxy's own views (JSON is 1), so routed responses open in this view
ROUTED_PRIORITY = 2.0
_REPORT = re.compile(r"^REPORT RequestId: .*$", re.MULTILINE)
_REPORT_FIELD = re.compile(
    r"(Init Duration|Billed Duration|Duration|Max Memory Used): ([\d.]+ \w+)"
)

Line = tuple[str, str]  # (style, text); styles are mitmproxy's: header, text, error


def record_of(flow: Any) -> Mapping[str, Any] | None:
    metadata = getattr(flow, "metadata", None)
    record = metadata.get(METADATA_KEY) if isinstance(metadata, dict) else None
    return record if isinstance(record, Mapping) else None


def is_routed_response(flow: Any, message: Any) -> bool:
    return (
        record_of(flow) is not None
        and isinstance(flow, http.HTTPFlow)
        and message is not None
        and message is flow.response
    )


def render(record: Mapping[str, Any]) -> list[Line]:
    """The view's lines."""
    lines: list[Line] = []
    function = str(record.get("function") or "?")
    if record.get("qualifier"):
        function += f":{record['qualifier']}"
    lines += _pairs(
        [
            ("route", record.get("route")),
            ("function", function),
            ("invocation", f"{record.get('invocation_type')}, {record.get('payload_mode')}"),
            ("Lambda status", _lambda_status(record)),
            ("Lambda RequestId", record.get("lambda_request_id")),
            ("executed version", record.get("executed_version")),
            ("response status", record.get("status")),
            ("our request id", record.get("request_id")),
            ("timings", _timings(record)),
            ("response stream", _stream(record)),
            ("function REPORT", _report(record)),
        ]
    )
    if record.get("function_error"):
        lines.append(("error", f"function error: {record['function_error']}"))
        lines += _pairs(
            [
                ("errorType", record.get("error_type")),
                ("errorMessage", record.get("error_message")),
            ],
            indent="  ",
            style="error",
        )
        if record.get("stack_trace"):
            lines.append(("error", "  stackTrace:"))
            lines += [("error", f"    {line}") for line in record["stack_trace"]]
    if record.get("error"):
        lines.append(("error", f"error: {record['error']}"))
    lines += _section("payload sent", record.get("payload"), record.get("payload_size"), True)
    if record.get("stream"):
        lines += [
            ("text", ""),
            ("header", "function result: relayed as it arrived, not kept on the flow"),
        ]
    else:
        lines += _section(
            "function result (raw, before shaping)", record.get("result"), record.get("result_size")
        )
    logs = record.get("logs")
    lines.append(("text", ""))
    lines.append(("header", "log tail:" if logs else "log tail: (none; log_type None?)"))
    lines += [("text", f"  {line}") for line in (logs or "").rstrip().splitlines()]
    return lines


def _pairs(
    pairs: list[tuple[str, Any]], *, indent: str = "", style: str = "text"
) -> Iterator[Line]:
    width = max(len(key) for key, _ in pairs) + 2
    for key, value in pairs:
        if value is not None:
            yield (style, f"{indent}{(key + ':').ljust(width)}{value}")


def _lambda_status(record: Mapping[str, Any]) -> str:
    status = record.get("lambda_status")
    if status is None:
        return "no answer (see error)"
    return f"{status} ({record['function_error']})" if record.get("function_error") else str(status)


def _timings(record: Mapping[str, Any]) -> str:
    parts = [f"total {record.get('duration_ms', 0):.1f} ms"]
    invoke_ms = record.get("invoke_ms")
    if isinstance(invoke_ms, (int, float)):
        parts.append(f"Invoke call {invoke_ms:.1f} ms")
        parts.append(f"in the proxy {record.get('duration_ms', 0) - invoke_ms:.1f} ms")
    return "; ".join(parts)


def _stream(record: Mapping[str, Any]) -> str | None:
    """A relayed response stream (invoke_mode RESPONSE_STREAM): how it ended and its figures."""
    stream = record.get("stream")
    if not isinstance(stream, Mapping):
        return None
    parts = [str(stream.get("outcome"))]
    if stream.get("error_code"):
        parts[0] += f" ({stream['error_code']})"
    first_byte = stream.get("first_byte_ms")
    if isinstance(first_byte, (int, float)):
        parts.append(f"first byte after {first_byte:.1f} ms")
    parts.append(f"{stream.get('chunks', 0)} chunks")
    parts.append(f"{human.pretty_size(int(stream.get('bytes') or 0))} relayed")
    return "; ".join(parts)


def _report(record: Mapping[str, Any]) -> str | None:
    """The function's own figures, from the REPORT line of its log tail."""
    report = _REPORT.search(record.get("logs") or "")
    if report is None:
        return None
    return ", ".join(f"{k} {v}" for k, v in _REPORT_FIELD.findall(report.group(0))) or None


def _section(
    title: str, text: str | None, size: int | None, decode_body: bool = False
) -> list[Line]:
    lines: list[Line] = [("text", "")]
    if text is None:
        return lines + [("header", f"{title}: none")]
    size = size if size is not None else len(text.encode())
    kept = len(text.encode("utf-8", "replace"))
    header = f"{title} ({human.pretty_size(size)})"
    if size > kept:
        header += f", first {human.pretty_size(kept)} kept on the flow"
    lines.append(("header", header + ":"))
    try:
        document = json.loads(text) if size <= kept else None
    except ValueError:
        document = None
    if document is None:
        return lines + [("text", line) for line in text.splitlines()]
    notes = _decode_base64_bodies(document) if decode_body else []
    pretty = json.dumps(document, indent=2, ensure_ascii=False)
    return (
        lines
        + [("header", note) for note in notes]
        + [("text", line) for line in pretty.splitlines()]
    )


#: where each payload mode carries a body and its base64 flag
_BODY_FIELDS = (("body", "isBase64Encoded"), ("request_body", "request_body_base64"))


def _decode_base64_bodies(document: Any) -> list[str]:
    """Replace a base64 body that decodes to UTF-8 text by the text; say so."""
    notes: list[str] = []
    if not isinstance(document, dict):
        return notes
    for body_key, flag_key in _BODY_FIELDS:
        body = document.get(body_key)
        if document.get(flag_key) is True and isinstance(body, str) and body:
            try:
                decoded = base64.b64decode(body, validate=True).decode("utf-8")
            except (binascii.Error, ValueError):
                notes.append(f'("{body_key}" is base64 of binary data, shown as sent)')
                continue
            document[body_key] = decoded
            notes.append(f'("{body_key}" is base64 in the payload, shown decoded)')
    return notes


# --- the two content view APIs ---


class LambdaViewLegacy(contentviews.View):
    """mitmproxy 11's API (``contentviews.base.View``)."""

    name = NAME

    def __call__(self, data: bytes, *, flow: Any = None, **metadata: Any) -> Any:
        record = record_of(flow)
        if record is None:
            return "Lambda", iter([[("text", "not a flow answered by lambda-route")]])
        return "Lambda", ([line] for line in render(record))

    def render_priority(
        self, data: bytes, *, flow: Any = None, http_message: Any = None, **metadata: Any
    ) -> float:
        return ROUTED_PRIORITY if is_routed_response(flow, http_message) else 0


class LambdaContentview:
    """mitmproxy 12's ``Contentview`` protocol."""

    name = NAME
    syntax_highlight = "none"

    def prettify(self, data: bytes, metadata: Any) -> str:
        record = record_of(metadata.flow)
        if record is None:
            raise ValueError("not a flow answered by lambda-route")
        return "\n".join(text for _, text in render(record)) + "\n"

    def render_priority(self, data: bytes, metadata: Any) -> float:
        return ROUTED_PRIORITY if is_routed_response(metadata.flow, metadata.http_message) else -1

    def __lt__(self, other: Any) -> bool:
        return bool(self.name < other.name)


def register_lambda_view() -> None:
    """Register the view (again, on a script reload: the last registration wins)."""
    views: Any = contentviews  # typed for one mitmproxy version or the other
    if hasattr(views, "Contentview"):  # mitmproxy >= 12
        views.add(LambdaContentview())
        return
    existing = views.get(NAME)
    if existing is not None:
        views.remove(existing)
    views.add(LambdaViewLegacy())

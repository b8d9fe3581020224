"""One line per flow for ``lambda-route --lean``: what mitmdump's Dumper shows at its default
detail, for a fraction of its cost (no styling, no per-flow filter, one write per flow).

    127.0.0.1:50312 GET http://127.0.0.1:8080/echo -> 200 34b 3.1ms lambda:echo

``-q`` (``flow_detail=0``) turns it off; higher detail or a filter loads mitmproxy's Dumper
instead (see ``lean``).
"""

from __future__ import annotations

import sys
from typing import IO, Any

from mitmproxy import ctx, http, tcp

METADATA_KEY = "lambda_route"


class FlowLog:
    def __init__(self, out: IO[str] | None = None) -> None:
        self._out = out or sys.stdout
        self.enabled = True
        self._superseded = False
        self._show_host = False

    def configure(self, updated: set[str]) -> None:
        if "flow_detail" in updated:
            self.enabled = ctx.options.flow_detail > 0 and not self._superseded
        if "showhost" in updated:
            self._show_host = ctx.options.showhost

    def supersede(self) -> None:
        """mitmproxy's Dumper was loaded (more detail, a filter): it logs the flows now."""
        self._superseded = True
        self.enabled = False

    def _url(self, flow: http.HTTPFlow) -> str:
        """The URL as mitmdump's Dumper shows it (``showhost``: from the Host header)."""
        return flow.request.pretty_url if self._show_host else flow.request.url

    def _write(self, line: str) -> None:
        self._out.write(line + "\n")
        self._out.flush()

    def response(self, flow: http.HTTPFlow) -> None:
        if self.enabled and flow.response is not None:
            response = flow.response
            size = len(response.raw_content) if response.raw_content is not None else 0
            self._write(
                f"{_client(flow)} {flow.request.method} {self._url(flow)} -> "
                f"{response.status_code} {size}b {_elapsed_ms(flow)}{_lambda_suffix(flow)}"
            )

    def error(self, flow: http.HTTPFlow) -> None:
        if self.enabled and flow.error is not None:
            self._write(
                f"{_client(flow)} {flow.request.method} {self._url(flow)} -> "
                f"error: {flow.error.msg}{_lambda_suffix(flow)}"
            )

    def tcp_end(self, flow: tcp.TCPFlow) -> None:
        if self.enabled:
            server = flow.server_conn.address
            target = f"{server[0]}:{server[1]}" if server else "?"
            self._write(f"{_client(flow)} tcp {target} closed ({len(flow.messages)} messages)")

    def tcp_error(self, flow: tcp.TCPFlow) -> None:
        if self.enabled and flow.error is not None:
            self._write(f"{_client(flow)} tcp error: {flow.error.msg}")


def _client(flow: Any) -> str:
    peer = flow.client_conn.peername
    return f"{peer[0]}:{peer[1]}" if peer else "?"


def _elapsed_ms(flow: http.HTTPFlow) -> str:
    end = flow.response.timestamp_end if flow.response else None
    start = flow.request.timestamp_start
    return f"{(end - start) * 1000:.1f}ms" if end and start else "-"


def _lambda_suffix(flow: http.HTTPFlow) -> str:
    record = flow.metadata.get(METADATA_KEY)
    if isinstance(record, dict) and record.get("function"):
        return f" lambda:{record['function']}"
    return ""

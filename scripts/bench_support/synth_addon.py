"""Benchmark target B: an addon that answers every request itself, with no I/O.

This is mitmproxy's own ceiling for any addon that answers flows: lambda-route (C) cannot
be faster than this, only as close to it as possible. It answers the same bytes as the
peers (``synth_body_file``), optionally after an asyncio sleep (``synth_delay``, the slow
function scenario), so that A, B and C serve identical responses.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import Path

from mitmproxy import ctx, http
from mitmproxy.addonmanager import Loader


class SynthesizeResponse:
    def __init__(self) -> None:
        self.body = b""
        self.delay = 0.0

    def load(self, loader: Loader) -> None:
        loader.add_option("synth_body_file", str, "", "File whose bytes answer every request.")
        # str: mitmproxy's --set does not parse float options
        loader.add_option("synth_delay", str, "0", "Seconds to wait (asyncio) before answering.")

    def configure(self, updated: set[str]) -> None:
        if "synth_body_file" in updated and ctx.options.synth_body_file:
            self.body = Path(ctx.options.synth_body_file).read_bytes()
        if "synth_delay" in updated:
            self.delay = float(ctx.options.synth_delay)

    def request(self, flow: http.HTTPFlow) -> Coroutine[None, None, None] | None:
        """Answers at once (a plain sync hook, the cheapest kind) or, with a delay, returns
        the coroutine that answers later: mitmproxy awaits whatever a hook returns."""
        if self.delay:
            return self._answer_later(flow)
        self._answer(flow)
        return None

    async def _answer_later(self, flow: http.HTTPFlow) -> None:
        await asyncio.sleep(self.delay)
        self._answer(flow)

    def _answer(self, flow: http.HTTPFlow) -> None:
        flow.response = http.Response.make(200, self.body, {"Content-Type": "application/json"})


addons = [SynthesizeResponse()]

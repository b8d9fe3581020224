"""Runs the whole mitmdump process under cProfile (``bench.py --profile``).

Loaded as a second ``-s`` script next to the addon under test; the profile starts when
the proxy is running and is written to ``bench_profile_out`` when mitmdump shuts down
(SIGTERM runs the ``done`` hooks), with the number of flows seen in ``<file>.flows`` (to
turn totals into costs per flow whatever the addon under test is).
"""

from __future__ import annotations

import cProfile
from pathlib import Path

from mitmproxy import ctx, http
from mitmproxy.addonmanager import Loader


class ProfileProcess:
    def __init__(self) -> None:
        self.profiler: cProfile.Profile | None = None
        self.flows = 0

    def load(self, loader: Loader) -> None:
        loader.add_option("bench_profile_out", str, "", "Write cProfile stats to this file.")

    def running(self) -> None:
        if ctx.options.bench_profile_out and self.profiler is None:
            self.profiler = cProfile.Profile()
            self.profiler.enable()

    def requestheaders(self, _flow: http.HTTPFlow) -> None:
        self.flows += 1

    def done(self) -> None:
        if self.profiler is not None:
            self.profiler.disable()
            out = ctx.options.bench_profile_out
            self.profiler.dump_stats(out)
            Path(f"{out}.flows").write_text(str(self.flows))
            self.profiler = None


addons = [ProfileProcess()]

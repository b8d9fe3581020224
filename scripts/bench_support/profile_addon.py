"""Runs the whole mitmdump process under cProfile (``bench.py --profile``).

Loaded as a second ``-s`` script next to the addon under test; the profile starts when
the proxy is running and is written to ``bench_profile_out`` when mitmdump shuts down
(SIGTERM runs the ``done`` hooks).
"""

from __future__ import annotations

import cProfile

from mitmproxy import ctx
from mitmproxy.addonmanager import Loader


class ProfileProcess:
    def __init__(self) -> None:
        self.profiler: cProfile.Profile | None = None

    def load(self, loader: Loader) -> None:
        loader.add_option("bench_profile_out", str, "", "Write cProfile stats to this file.")

    def running(self) -> None:
        if ctx.options.bench_profile_out and self.profiler is None:
            self.profiler = cProfile.Profile()
            self.profiler.enable()

    def done(self) -> None:
        if self.profiler is not None:
            self.profiler.disable()
            self.profiler.dump_stats(ctx.options.bench_profile_out)
            self.profiler = None


addons = [ProfileProcess()]

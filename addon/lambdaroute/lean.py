"""``lambda-route --lean``: mitmdump's addons, each paid for per flow only where it works.

mitmdump loads ~36 addons and every hook event of every flow visits each of them; most do
nothing unless an option turns them on. The lean master dispatches an event only to the
addons that handle it (``hook_dispatch``), so an addon without per-flow hooks costs nothing
per flow. It loads:

- every mitmdump addon without per-flow hooks (commands such as ``export.*``/``cut.*``,
  ``-r``, client replay...), and the ones that matter with default options: proxy server,
  modes, TLS interception, DNS, scripts, the mitm.it page and the defaults that change
  pass-through traffic (``block_global``, h2c, Alt-Svc, ECH);
- a one-line flow log instead of the Dumper (``flowlog``);
- the others (``-w``, ``--map-remote``, ``--modify-headers``, ``--set stickycookie=...``, a
  filter expression, ``--flow-detail 2``...) when one of their options is set, at start-up
  or later (a script, ``:set``), so that no option is silently ignored.

Each client connection writes what one loop turn gathers in one ``send`` (``lean_writes``),
and two of mitmproxy's debug-mode checks are off in the lean core's process
(``lean_checks``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from math import inf
from typing import Any

from mitmproxy import addonmanager, addons, hooks, master, options
from mitmproxy.addons import (
    dumper,
    errorcheck,
    keepserving,
    proxyserver,
    readfile,
    script,
    termlog,
)
from mitmproxy.tools import cmdline
from mitmproxy.tools import main as mitmproxy_main

from lambdaroute.addon import LambdaRoute
from lambdaroute.flowlog import FlowLog
from lambdaroute.hook_dispatch import HookDispatch
from lambdaroute.lean_checks import turn_off_debug_checks
from lambdaroute.lean_writes import coalesce_client_writes

logger = logging.getLogger(__name__)

# Addons with per-flow hooks that run with default options, by class name: mitmproxy 12
# renamed StripDnsHttpsRecords to StripECH and dropped UpdateAltSvc, so the set is picked
# from whatever default_addons() holds.
LEAN_ADDONS = frozenset(
    {
        "Core",
        "Block",
        "StripDnsHttpsRecords",
        "StripECH",
        "DisableH2C",
        "Proxyserver",
        "DnsResolver",
        "ScriptLoader",
        "NextLayer",
        "TlsConfig",
        "UpdateAltSvc",
        "Onboarding",
    }
)
#: the hooks that run once (or per option change), not per flow or connection
LIFECYCLE_HOOKS = frozenset({"load", "configure", "running", "done", "update", "add_log"})


def _per_flow_hooks(addon: Any) -> list[str]:
    return [
        name
        for name in hooks.all_hooks
        if name not in LIFECYCLE_HOOKS and callable(getattr(addon, name, None))
    ]


def _mitmdump_addons() -> list[Any]:
    """mitmdump's addons, in its order (``DumpMaster``)."""
    return [
        *addons.default_addons(),
        dumper.Dumper(),
        keepserving.KeepServing(),
        readfile.ReadFileStdin(),
        errorcheck.ErrorCheck(),
    ]


def _always_loaded(addon: Any) -> bool:
    return type(addon).__name__ in LEAN_ADDONS or not _per_flow_hooks(addon)


def _declared_already(loader: addonmanager.Loader) -> None:
    pass


class _RecordingLoader(addonmanager.Loader):
    """Notes the options an addon declares, also those another addon declared already."""

    def __init__(self, master: master.Master) -> None:
        super().__init__(master)
        self.names: list[str] = []

    def add_option(self, name: str, *args: Any, **kwargs: Any) -> None:
        self.names.append(name)
        super().add_option(name, *args, **kwargs)


class LeanMaster(master.Master):
    addons: HookDispatch

    def __init__(self, opts: options.Options) -> None:
        super().__init__(opts)
        # Events visit only the addons that handle them (see hook_dispatch).
        self.options.changed.disconnect(self.addons._configure_all)
        self.addons = HookDispatch(self)
        self._termlog_addon = termlog.TermLog()
        self.addons.add(self._termlog_addon)
        # mitmproxy formats every log record, at every level, into a deprecated ``add_log``
        # event for all addons; HookDispatch puts that back when an addon has ``add_log``.
        self._legacy_log_events.uninstall()
        # mitmdump's order, so that every hook sees a flow as it would under mitmdump; an
        # addon loaded later goes to its place too (``_rank``)
        self.flow_log = FlowLog()
        self._rank: dict[int, float] = {id(self._termlog_addon): -1}
        chain: list[Any] = []
        on_demand: list[Any] = []
        for rank, addon in enumerate(_mitmdump_addons()):
            self._rank[id(addon)] = rank
            if isinstance(addon, script.ScriptLoader):
                # ``lambda-route --mitmdump`` loads the addon as the first script: in the
                # ScriptLoader's place, before the user's ``-s`` scripts
                lambda_route = LambdaRoute()
                self._rank[id(lambda_route)] = rank - 0.5
                chain.append(lambda_route)
            elif isinstance(addon, dumper.Dumper):
                self._rank[id(self.flow_log)] = rank - 0.5  # the Dumper's place
                chain.append(self.flow_log)
            if isinstance(addon, proxyserver.Proxyserver):
                coalesce_client_writes(addon)
            if _always_loaded(addon):
                chain.append(addon)
            else:
                on_demand.append(addon)
        self.addons.add(*chain)
        # Declare the left-out addons' options so that the command line and --set know them.
        self._on_demand: list[tuple[Any, list[str]]] = []
        for addon in on_demand:
            loader = _RecordingLoader(self)
            if hasattr(addon, "load"):
                addon.load(loader)
            self._on_demand.append((addon, loader.names))

    def needed_addons(self) -> list[tuple[Any, list[str]]]:
        """The left-out addons whose options are set, with the options that ask for them."""
        needed = []
        for addon, names in self._on_demand:
            if addon in self.addons:
                continue
            if isinstance(addon, dumper.Dumper):
                # flow_detail 0/1 is the flow log's off/on; more detail needs the Dumper.
                changed = [n for n in names if n != "flow_detail" and self.options.has_changed(n)]
                if self.options.flow_detail > 1:
                    changed.append("flow_detail")
            else:
                changed = [n for n in names if self.options.has_changed(n)]
            if changed:
                needed.append((addon, changed))
        return needed

    def _load_needed(self, *, running: bool) -> None:
        for addon, changed in self.needed_addons():
            logger.info(f"--lean: loading {type(addon).__name__} for {', '.join(changed)}")
            # Its options are declared (``__init__``). Loading it again would re-declare
            # them, and mitmproxy resets an option whose help text it reflowed.
            setattr(addon, "load", _declared_already)  # noqa: B010
            self.addons.add(addon)
            delattr(addon, "load")
            rank = self._rank[id(addon)]
            place = next(
                (i for i, a in enumerate(self.addons.chain) if self._rank.get(id(a), inf) > rank),
                len(self.addons.chain),
            )
            self.addons.move(addon, place)
            self.addons.invoke_addon_sync(addon, hooks.ConfigureHook(set(self.options.keys())))
            if running:
                self.addons.invoke_addon_sync(addon, hooks.RunningHook())
            if isinstance(addon, dumper.Dumper):
                self.flow_log.supersede()

    def _options_changed(self, updated: set[str]) -> None:
        """An option of a left-out addon set while running (a script, ``:set``): the addon
        is loaded then, never ignored."""
        if any(updated.intersection(names) for addon, names in self._on_demand):
            self._load_needed(running=True)

    async def run(self) -> None:
        self._load_needed(running=False)
        self.options.changed.connect(self._options_changed)
        try:
            await super().run()
        finally:
            self.options.changed.disconnect(self._options_changed)


def run_lean(arguments: Sequence[str]) -> None:
    """Parse mitmdump's command line and run the lean master (as ``mitmdump`` would)."""

    def filter_options(args: Any) -> dict[str, str]:
        if args.filter_args:
            expression = " ".join(args.filter_args)
            return dict(
                save_stream_filter=expression,
                readfile_filter=expression,
                dumper_filter=expression,
            )
        return {}

    turn_off_debug_checks()
    mitmproxy_main.run(LeanMaster, cmdline.mitmdump, arguments, filter_options)

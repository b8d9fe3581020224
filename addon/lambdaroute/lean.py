"""``lambda-route --lean``: a mitmproxy master with only the addons a Lambda route and plain
pass-through need.

mitmdump loads ~36 addons and every hook event of every flow visits each of them; most do
nothing unless an option turns them on. The lean master loads the ones that matter with
default options (proxy server, modes, TLS interception, DNS, scripts, the defaults that
change pass-through traffic: ``block_global``, h2c, Alt-Svc, ECH) plus a cheap one-line
flow log, and declares the options of all the others. Left out with default options: the
mitm.it page (fetch the CA from the confdir), console/web commands (export, cut...).
An option of a left-out addon that is set (``-w``, ``--map-remote``, ``--set
stickycookie=...``, a filter expression, ``-r``...) loads that addon at start-up, so
nothing is silently ignored.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from mitmproxy import addonmanager, addons, hooks, master, options
from mitmproxy.addons import (
    block,
    core,
    disable_h2c,
    dns_resolver,
    dumper,
    errorcheck,
    keepserving,
    next_layer,
    proxyserver,
    readfile,
    script,
    strip_dns_https_records,
    tlsconfig,
    update_alt_svc,
)
from mitmproxy.tools import cmdline
from mitmproxy.tools import main as mitmproxy_main

from lambdaroute.addon import LambdaRoute
from lambdaroute.flowlog import FlowLog

logger = logging.getLogger(__name__)

LEAN_ADDONS: tuple[type, ...] = (
    core.Core,
    block.Block,
    strip_dns_https_records.StripDnsHttpsRecords,
    disable_h2c.DisableH2C,
    proxyserver.Proxyserver,
    dns_resolver.DnsResolver,
    script.ScriptLoader,
    next_layer.NextLayer,
    tlsconfig.TlsConfig,
    update_alt_svc.UpdateAltSvc,
)


def _on_demand_addons() -> list[Any]:
    """Every addon mitmdump has that the lean set leaves out, Dumper last."""
    left_out = [a for a in addons.default_addons() if not isinstance(a, LEAN_ADDONS)]
    return [*left_out, readfile.ReadFileStdin(), dumper.Dumper()]


class LeanMaster(master.Master):
    def __init__(self, opts: options.Options) -> None:
        super().__init__(opts, with_termlog=True)
        self.addons.add(*(cls() for cls in LEAN_ADDONS))
        self.flow_log = FlowLog()
        self.addons.add(self.flow_log, LambdaRoute())
        self.addons.add(keepserving.KeepServing(), errorcheck.ErrorCheck())
        # Declare the left-out addons' options so that the command line and --set know them.
        self._on_demand: list[tuple[Any, list[str]]] = []
        for addon in _on_demand_addons():
            before = set(opts.keys())
            if hasattr(addon, "load"):
                addon.load(addonmanager.Loader(self))
            self._on_demand.append((addon, sorted(set(opts.keys()) - before)))

    def needed_addons(self) -> list[tuple[Any, list[str]]]:
        """The left-out addons whose options are set, with the options that ask for them."""
        needed = []
        for addon, names in self._on_demand:
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

    async def run(self) -> None:
        for addon, changed in self.needed_addons():
            logger.info(f"--lean: loading {type(addon).__name__} for {', '.join(changed)}")
            # Loading it again may re-declare an option whose help differs from the core
            # Options' (mitmproxy then resets it): keep the values set on the command line.
            values = {name: getattr(self.options, name) for name in changed}
            self.addons.add(addon)
            self.options.update(**values)
            self.addons.invoke_addon_sync(addon, hooks.ConfigureHook(set(self.options.keys())))
            if isinstance(addon, dumper.Dumper):
                self.flow_log.enabled = False
        await super().run()


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

    mitmproxy_main.run(LeanMaster, cmdline.mitmdump, arguments, filter_options)

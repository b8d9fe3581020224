"""``lambda-route --lean``'s master: which addons it loads, and when it loads more."""

from __future__ import annotations

import typing
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from mitmproxy import options
from mitmproxy.addons import dumper

from lambdaroute.lean import LeanMaster


@pytest.fixture
async def lean() -> Iterator[LeanMaster]:
    made = LeanMaster(options.Options())
    yield made
    made._termlog_addon.uninstall()  # type: ignore[union-attr]


def non_default(option: Any) -> Any:
    """A value other than the option's default, of the option's type."""
    if option.choices:
        return next(choice for choice in option.choices if choice != option.default)
    if option.typespec is bool:
        return not option.default
    if option.typespec is int:
        return option.default + 1
    if option.typespec == Sequence[str]:
        return ["x"]
    assert option.typespec in (str, typing.Optional[str]), option.typespec  # noqa: UP045
    return "x"


async def test_every_option_of_a_left_out_addon_loads_it(lean: LeanMaster) -> None:
    """-w (save_stream_file), map_remote, modify_headers, stickycookie, server_replay, a
    filter expression...: every option that a left-out addon declares, once set, makes the
    lean master load that addon at start-up. None is silently ignored."""
    names = [(addon, name) for addon, declared in lean._on_demand for name in declared]
    assert {name for _, name in names} >= {
        "save_stream_file",
        "map_remote",
        "map_local",
        "modify_headers",
        "modify_body",
        "stickycookie",
        "stickyauth",
        "anticache",
        "anticomp",
        "server_replay",
        "proxyauth",
        "upstream_auth",
        "block_list",
        "hardump",
        "dumper_filter",
    }
    for addon, name in names:
        option = lean.options._options[name]
        lean.options.update(**{name: non_default(option)})
        needed = {type(a).__name__: changed for a, changed in lean.needed_addons()}
        assert name in needed.get(type(addon).__name__, []), name
        lean.options.update(**{name: option.default})


async def test_every_mitmdump_addon_is_loaded_or_on_demand(lean: LeanMaster) -> None:
    """Only the Dumper gives way to the flow log; addons without per-flow hooks (commands,
    -r, client replay) and the mitm.it page are always there, as in mitmdump."""
    from mitmproxy.addons import default_addons, readfile

    loaded = {type(a).__name__ for a in lean.addons.chain}
    on_demand = {type(a).__name__ for a, _ in lean._on_demand}
    mitmdump = {type(a).__name__ for a in [*default_addons(), readfile.ReadFileStdin()]}
    assert mitmdump <= loaded | on_demand
    assert {"Onboarding", "Export", "Cut", "ClientPlayback", "ReadFileStdin"} <= loaded
    assert "export.file" in lean.commands.commands and "replay.client" in lean.commands.commands
    assert "Dumper" in on_demand and "Save" in on_demand


async def test_flow_detail_one_or_zero_is_the_flow_log(lean: LeanMaster) -> None:
    for detail, loads_dumper in ((0, False), (1, False), (2, True), (4, True)):
        lean.options.update(flow_detail=detail)
        assert any(isinstance(a, dumper.Dumper) for a, _ in lean.needed_addons()) is loads_dumper


async def test_an_option_set_while_running_loads_its_addon(lean: LeanMaster) -> None:
    """A script (or ``:set``) that sets an option of a left-out addon after start-up gets
    the addon then."""
    lean.options.changed.connect(lean._options_changed)  # what run() does
    assert lean.addons.get("modifyheaders") is None
    lean.options.update(modify_headers=["/~q/x-late/yes"])
    assert lean.addons.get("modifyheaders") is not None
    assert lean.needed_addons() == []
    lean.options.update(flow_detail=3)
    assert lean.addons.get("dumper") is not None
    lean.options.update(flow_detail=1)  # the Dumper shows flows now, not the flow log too
    assert not lean.flow_log.enabled


async def test_addons_run_in_mitmdumps_order_also_when_loaded_later(lean: LeanMaster) -> None:
    """The addon where ``lambda-route --mitmdump`` runs it (the first script), the flow log
    in the Dumper's place, and an addon loaded for its option in its mitmdump place: e.g.
    ProxyAuth answers 407 before the addon routes a flow, as under mitmdump."""
    from mitmproxy.tools.dump import DumpMaster

    full = DumpMaster(options.Options(), with_termlog=False)
    mitmdump_order = [type(a).__name__ for a in full.addons.chain]
    script_place = mitmdump_order.index("ScriptLoader")
    mitmdump_order[script_place:script_place] = ["LambdaRoute"]
    mitmdump_order[mitmdump_order.index("Dumper")] = "FlowLog"
    lean.options.changed.connect(lean._options_changed)
    lean.options.update(proxyauth="any", modify_headers=["/~q/x/y"])

    def order(names: list[str], among: set[str]) -> list[str]:
        return [name for name in names if name in among]

    lean_order = [type(a).__name__ for a in lean.addons.chain if type(a).__name__ != "TermLog"]
    assert order(mitmdump_order, set(lean_order)) == lean_order
    assert lean_order.index("ProxyAuth") < lean_order.index("LambdaRoute")
    assert lean_order.index("LambdaRoute") < lean_order.index("ModifyHeaders")

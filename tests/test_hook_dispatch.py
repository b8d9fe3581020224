"""HookDispatch (the lean master's addon manager) delivers events as mitmproxy's does."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest
from mitmproxy import addonmanager, exceptions, hooks, master, options
from mitmproxy.addons import script as script_addon
from mitmproxy.proxy import layers
from mitmproxy.test import tflow

from lambdaroute.hook_dispatch import HookDispatch


class Recorder:
    def __init__(self, name: str, calls: list[str]) -> None:
        self.name = name
        self.calls = calls

    def requestheaders(self, flow: Any) -> None:
        self.calls.append(f"{self.name}.requestheaders")

    async def request(self, flow: Any) -> None:
        self.calls.append(f"{self.name}.request")

    def update(self, flows: Any) -> None:
        self.calls.append(f"{self.name}.update")


class Raises:
    def requestheaders(self, flow: Any) -> None:
        raise ValueError("broken addon")


class Halts:
    def requestheaders(self, flow: Any) -> None:
        raise exceptions.AddonHalt


class Container:
    """Like mitmproxy's ScriptLoader: sub-addons that change without register()."""

    def __init__(self) -> None:
        self.addons: list[Any] = []


class OldStyleLog:
    def __init__(self) -> None:
        self.entries: list[str] = []

    def add_log(self, entry: Any) -> None:
        self.entries.append(entry.msg)


def make_master(manager: type[addonmanager.AddonManager]) -> master.Master:
    made = master.Master(options.Options())
    made.options.changed.disconnect(made.addons._configure_all)
    made.addons = manager(made)
    return made


async def run_events(manager: type[addonmanager.AddonManager], *addons: Any) -> list[str]:
    calls: list[str] = []
    made = make_master(manager)
    made.addons.add(Recorder("a", calls), *addons, Recorder("b", calls))
    flow = tflow.tflow()
    await made.addons.handle_lifecycle(layers.http.HttpRequestHeadersHook(flow))
    await made.addons.handle_lifecycle(layers.http.HttpRequestHook(flow))
    return calls


@pytest.mark.parametrize("middle", [[], [Raises()], [Halts()]], ids=["plain", "raises", "halts"])
async def test_same_calls_in_the_same_order_as_mitmproxy(
    middle: list[Any], caplog: pytest.LogCaptureFixture
) -> None:
    expected = await run_events(addonmanager.AddonManager, *middle)
    expected_log = [r.getMessage() for r in caplog.records]
    caplog.clear()
    assert await run_events(HookDispatch, *[type(m)() for m in middle]) == expected
    assert [r.getMessage() for r in caplog.records] == expected_log
    if middle and isinstance(middle[0], Raises):
        assert "Addon error: broken addon" in expected_log
        assert "b.requestheaders" in expected  # the error does not stop the event
    if middle and isinstance(middle[0], Halts):
        assert "b.requestheaders" not in expected


async def test_addons_added_or_removed_after_an_event_are_seen() -> None:
    calls: list[str] = []
    made = make_master(HookDispatch)
    first = Recorder("a", calls)
    made.addons.add(first)
    flow = tflow.tflow()
    await made.addons.trigger_event(layers.http.HttpRequestHeadersHook(flow))
    made.addons.add(Recorder("b", calls))
    made.addons.remove(first)
    await made.addons.trigger_event(layers.http.HttpRequestHeadersHook(flow))
    assert calls == ["a.requestheaders", "b.requestheaders"]


async def test_sub_addons_are_visited_as_they_are_now() -> None:
    calls: list[str] = []
    made = make_master(HookDispatch)
    container = Container()
    made.addons.add(container)
    flow = tflow.tflow()
    await made.addons.handle_lifecycle(layers.http.HttpRequestHeadersHook(flow))
    container.addons.append(Recorder("script", calls))  # e.g. a script (re)loaded
    await made.addons.handle_lifecycle(layers.http.HttpRequestHeadersHook(flow))
    assert calls == ["script.requestheaders", "script.update"]


async def test_a_container_without_sub_addons_gets_its_own_events() -> None:
    calls: list[str] = []

    class Loader(Container):  # like the ScriptLoader with no scripts
        def requestheaders(self, flow: Any) -> None:
            calls.append("loader.requestheaders")

    made = make_master(HookDispatch)
    made.addons.add(Loader())
    await made.addons.handle_lifecycle(layers.http.HttpRequestHeadersHook(tflow.tflow()))
    assert calls == ["loader.requestheaders"]


async def test_a_script_gets_its_events(tmp_path: Path) -> None:
    script = tmp_path / "seen.py"
    script.write_text("seen = []\ndef request(flow):\n    seen.append(flow.request.path)\n")
    made = make_master(HookDispatch)

    made.addons.add(script_addon.ScriptLoader())
    made.options.update(scripts=[str(script)])
    (loaded,) = made.addons.get("scriptloader").addons
    for _ in range(100):  # the script's watcher task loads it
        if loaded.ns is not None:
            break
        await asyncio.sleep(0.01)
    await made.addons.trigger_event(layers.http.HttpRequestHook(tflow.tflow()))
    loaded.done()
    assert loaded.ns.seen == ["/path"]


async def test_options_errors_propagate_from_configure() -> None:
    class Refuses:
        def configure(self, updated: set[str]) -> None:
            if "listen_port" in updated:
                raise exceptions.OptionsError("no")

    made = make_master(HookDispatch)
    made.addons.add(Refuses())
    with pytest.raises(exceptions.OptionsError):
        made.addons.trigger(hooks.ConfigureHook({"listen_port"}))


async def test_old_style_add_log_addons_get_log_entries_in_the_lean_master() -> None:
    from lambdaroute.lean import LeanMaster

    made = LeanMaster(options.Options())
    root = logging.getLogger()
    assert made._legacy_log_events not in root.handlers  # nobody asked for add_log
    old_style = OldStyleLog()
    made.addons.add(old_style)
    try:
        logging.getLogger("test").warning("hello add_log")
        await made.addons.trigger_event(hooks.RunningHook())  # lets call_soon run
        await asyncio.sleep(0)
        assert any("hello add_log" in entry for entry in old_style.entries)
    finally:
        made._legacy_log_events.uninstall()
        made._termlog_addon.uninstall()  # type: ignore[union-attr]

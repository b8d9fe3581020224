"""The lean master's addon manager: an event visits only the addons that handle it.

mitmproxy's ``AddonManager`` sends every event to every addon in the chain: for each addon
a coroutine, a generator over its sub-addons, a ``getattr`` and a ``safecall`` context
manager, and ``event.args()`` rebuilt each time; after each flow event an ``update`` event
goes the same way. A profile of ``lambda-route --lean`` under load put ~20% of the proxy's
CPU there with 14 addons, almost all of it visiting addons without a handler.

``HookDispatch`` keeps, per event name, the chain's handlers (bound methods), built on first
use and dropped whenever the chain can change (an addon added or removed, and after
``configure``/``running``/``done``, where an addon may set up sub-addons). An addon with
sub-addons (``addons``: ScriptLoader and its scripts, which reload) stays dynamic: it is
visited as mitmproxy does on every event. Errors are handled as ``safecall`` does: logged
as "Addon error", ``AddonHalt`` stops the event, ``OptionsError`` propagates.
"""

from __future__ import annotations

import inspect
import logging
import sys
import types
from collections.abc import Callable
from typing import Any

from mitmproxy import addonmanager, exceptions, flow, hooks

logger = logging.getLogger("mitmproxy.addonmanager")

#: a chain entry: (addon, its handler) or (an addon with sub-addons, None)
Handler = tuple[Any, Callable[..., Any] | None]
#: events after which the chain's shape may have changed
_RESHAPING = frozenset({"configure", "running", "done", "load"})


class HookDispatch(addonmanager.AddonManager):
    def __init__(self, master: Any) -> None:
        self._handlers: dict[str, tuple[Handler, ...]] = {}
        super().__init__(master)

    # --- the chain changes: forget the tables ---

    def register(self, addon: Any) -> Any:
        self._handlers.clear()
        try:
            registered = super().register(addon)
        finally:
            self._handlers.clear()
        if any(hasattr(a, "add_log") for a in addonmanager.traverse([addon])):
            # the lean master leaves mitmproxy's deprecated log-entry events out until an
            # addon asks for them (see LeanMaster)
            self.master._legacy_log_events.install()
        return registered

    def add(self, *addons: Any) -> None:
        try:
            super().add(*addons)
        finally:
            self._handlers.clear()

    def remove(self, addon: Any) -> None:
        try:
            super().remove(addon)
        finally:
            self._handlers.clear()

    def clear(self) -> None:
        try:
            super().clear()
        finally:
            self._handlers.clear()

    def move(self, addon: Any, index: int) -> None:
        """Put an addon of the chain at ``index`` (of the chain without it)."""
        self.chain.remove(addon)
        self.chain.insert(index, addon)
        self._handlers.clear()

    def handlers(self, name: str) -> tuple[Handler, ...]:
        """The chain's entries for event ``name``, in chain order."""
        table = self._handlers.get(name)
        if table is None:
            table = self._handlers[name] = tuple(self._build(name))
        return table

    def _build(self, name: str) -> list[Handler]:
        table: list[Handler] = []
        for addon in self.chain:
            if hasattr(addon, "addons"):
                table.append((addon, None))
                continue
            func = getattr(addon, name, None)
            if func is None or isinstance(func, types.ModuleType):
                continue  # a module imported under a hook's name is no handler (mitmproxy)
            # not callable: None makes the event go through mitmproxy's path, which raises
            table.append((addon, func if callable(func) else None))
        return table

    # --- dispatch ---

    async def handle_lifecycle(self, event: hooks.Hook) -> None:
        await self.trigger_event(event)
        table = self.handlers("update")
        if not table:
            return
        message = event.args()[0]
        if isinstance(message, flow.Flow):
            update = hooks.UpdateHook([message])
            if any(func is not None or self._subtree_handles(a, update) for a, func in table):
                await self.trigger_event(update)

    async def trigger_event(self, event: hooks.Hook) -> None:
        try:
            table = self.handlers(event.name)
            if table:
                await self._dispatch(table, event)
        finally:
            if event.name in _RESHAPING:
                self._handlers.clear()

    async def _dispatch(self, table: tuple[Handler, ...], event: hooks.Hook) -> None:
        args = event.args()
        for addon, func in table:
            try:
                if func is not None:
                    result = func(*args)
                    if result is not None and inspect.isawaitable(result):
                        await result
                elif self._subtree_handles(addon, event):
                    await self.invoke_addon(addon, event)
            except exceptions.AddonHalt:
                return
            except exceptions.OptionsError:
                raise
            except Exception:
                _log_addon_error()

    def _subtree_handles(self, addon: Any, event: hooks.Hook) -> bool:
        """Whether an addon with sub-addons (or a non-callable handler, which raises here
        as in mitmproxy) has a handler for the event now."""
        if getattr(addon, "addons", None) == []:
            # The ScriptLoader without scripts, on every event of every flow: its own
            # handler is all there is (what mitmproxy's walk below finds, without the walk).
            func = getattr(addon, event.name, None)
            return func is not None and not isinstance(func, types.ModuleType)
        for _ in self._iter_hooks(addon, event):
            return True
        return False

    def trigger(self, event: hooks.Hook) -> None:
        """The synchronous variant (options changes, log entries): mitmproxy's own call per
        addon, for the addons that handle the event."""
        try:
            for addon, _ in self.handlers(event.name):
                try:
                    self.invoke_addon_sync(addon, event)
                except exceptions.AddonHalt:
                    return
                except exceptions.OptionsError:
                    raise
                except Exception:
                    _log_addon_error()
        finally:
            if event.name in _RESHAPING:
                self._handlers.clear()


def _log_addon_error() -> None:
    """What mitmproxy's ``safecall`` logs, the traceback cut to the addon's frames."""
    etype, value, tb = sys.exc_info()
    assert etype is not None and value is not None
    for name in ("trigger_event", "invoke_addon_sync", "invoke_addon"):
        tb = addonmanager.cut_traceback(tb, name)
    logger.error(f"Addon error: {value}", exc_info=(etype, value, tb))

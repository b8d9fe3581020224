"""``lambda-route`` (and ``python -m lambdaroute``): mitmproxy with the lambda-route addon.

    lambda-route CONFIG [mitmdump options...]          the addon, lambda_config=CONFIG, on the
                                                       lean master (see lean; --lean says so too)
    lambda-route --mitmdump CONFIG [options...]        the same on mitmdump's own master
    lambda-route --web CONFIG [mitmweb options...]     mitmweb + the addon
    lambda-route --addon-path                          the file ``mitmdump -s`` loads

Every option after CONFIG goes to mitmproxy unchanged (``--mode``, ``-p``, ``--set`` ...).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

USAGE = """\
usage: lambda-route [--mitmdump | --web] CONFIG [mitmproxy options...]
       lambda-route --addon-path

Runs the lambda-route addon with lambda_config=CONFIG, a Kong declarative config file, on
a lean mitmproxy core: mitmdump's options and behaviour at about half mitmdump's CPU per
flow, one line per flow (see the README, Lean core).
Every option after CONFIG goes to mitmproxy as is: lambda-route CONFIG --help lists them.
  --mitmdump     run mitmdump itself instead of the lean core
  --web          run mitmweb
  --lean         the lean core (the default)
  --addon-path   print the path of the addon file for mitmdump -s / mitmweb -s
"""

ADDON_FILE = Path(__file__).resolve().parent / "mitmproxy_addon.py"


def addon_path() -> str:
    return str(ADDON_FILE)


def split_arguments(argv: Sequence[str]) -> tuple[set[str], str | None, list[str]]:
    """(lambda-route's own flags, CONFIG, mitmproxy's arguments)."""
    own: set[str] = set()
    for index, argument in enumerate(argv):
        if argument in ("--lean", "--mitmdump", "--web", "--addon-path", "-h", "--help"):
            own.add(argument)
        elif argument.startswith("-"):
            raise SystemExit(
                f"lambda-route: {argument}: options for mitmproxy go after CONFIG\n" + USAGE
            )
        else:
            return own, argument, list(argv[index + 1 :])
    return own, None, []


def mitmproxy_arguments(config: str, rest: Sequence[str], *, with_script: bool) -> list[str]:
    script = ["-s", addon_path()] if with_script else []
    return [*script, "--set", f"lambda_config={config}", *rest]


def main(argv: Sequence[str] | None = None) -> None:
    own, config, rest = split_arguments(sys.argv[1:] if argv is None else argv)
    if "-h" in own or "--help" in own:
        print(USAGE, end="")
        return
    if "--addon-path" in own:
        print(addon_path())
        return
    if config is None:
        raise SystemExit("lambda-route: missing CONFIG, the Kong declarative config file\n" + USAGE)
    masters = own & {"--lean", "--mitmdump", "--web"}
    if len(masters) > 1:
        raise SystemExit(f"lambda-route: choose one of {', '.join(sorted(masters))}")
    if not masters & {"--mitmdump", "--web"}:
        from lambdaroute.lean import run_lean

        run_lean(mitmproxy_arguments(config, rest, with_script=False))
        return
    from mitmproxy.tools import main as mitmproxy_main

    tool = mitmproxy_main.mitmweb if "--web" in own else mitmproxy_main.mitmdump
    tool(mitmproxy_arguments(config, rest, with_script=True))

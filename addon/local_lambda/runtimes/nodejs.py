"""Node.js: the project's bootstrap (runtimes/node/bootstrap.mjs) under whatever ``node`` is
on PATH, speaking the Runtime API."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

BOOTSTRAP = Path(__file__).resolve().parent / "node" / "bootstrap.mjs"


def argv(spec: Any) -> list[str]:
    """Node with the flags of AWS's Node.js bootstrap: ``global.gc``, 80 KiB request
    headers, and a V8 heap sized from the function's memory (a tenth of it for the new
    space, the rest for the old), so a function that outgrows its memory runs out of heap
    here as it does on Lambda."""
    new_space = spec.memory_size // 10
    return [
        shutil.which("node") or "node",
        "--expose-gc",
        "--max-http-header-size=81920",
        f"--max-semi-space-size={new_space // 2}",
        f"--max-old-space-size={spec.memory_size - new_space}",
        str(BOOTSTRAP),
    ]


def execution_env(spec: Any) -> str | None:
    return f"AWS_Lambda_{spec.runtime}"


def missing(spec: Any) -> str | None:
    if shutil.which("node") is None:
        return f"runtime {spec.runtime} needs `node` on PATH, and there is none"
    if not BOOTSTRAP.is_file():
        return f"the Node.js bootstrap {BOOTSTRAP} is missing"
    return None

"""Node.js: the project's bootstrap (runtimes/node/bootstrap.mjs) under whatever ``node`` is
on PATH, speaking the Runtime API."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

BOOTSTRAP = Path(__file__).resolve().parent / "node" / "bootstrap.mjs"


def argv(spec: Any) -> list[str]:
    return [shutil.which("node") or "node", str(BOOTSTRAP)]


def execution_env(spec: Any) -> str | None:
    return f"AWS_Lambda_{spec.runtime}"


def missing(spec: Any) -> str | None:
    if shutil.which("node") is None:
        return f"runtime {spec.runtime} needs `node` on PATH, and there is none"
    if not BOOTSTRAP.is_file():
        return f"the Node.js bootstrap {BOOTSTRAP} is missing"
    return None

"""Any Runtime API client (``command: [...]``), e.g. ``python -m awslambdaric app.handler``."""

from __future__ import annotations

import shutil
from typing import Any


def argv(spec: Any) -> list[str]:
    program = spec.command[0]
    return [shutil.which(program, path=None) or program, *spec.command[1:]]


def execution_env(spec: Any) -> str | None:
    return None


def missing(spec: Any) -> str | None:
    program = spec.command[0]
    if "/" in program:
        path = spec.code_dir / program
        return None if path.exists() or shutil.which(program) else f"{program} not found"
    return None if shutil.which(program) else f"command {program!r} not found on PATH"

"""Custom runtimes (provided, provided.al2, provided.al2023): run ``code/bootstrap``."""

from __future__ import annotations

import os
from typing import Any


def argv(spec: Any) -> list[str]:
    return [str(spec.code_dir / "bootstrap")]


def execution_env(spec: Any) -> str | None:
    return None  # AWS does not set it for OS-only runtimes


def missing(spec: Any) -> str | None:
    bootstrap = spec.code_dir / "bootstrap"
    if not bootstrap.is_file():
        return f"runtime {spec.runtime} runs {bootstrap}, which does not exist"
    if not os.access(bootstrap, os.X_OK):
        return f"{bootstrap} is not executable (chmod +x it)"
    return None

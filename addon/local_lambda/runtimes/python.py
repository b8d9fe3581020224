"""Python handlers: ``local_lambda.runtime`` over the pipe protocol (faster than HTTP)."""

from __future__ import annotations

import sys
from typing import Any


def execution_env(spec: Any) -> str | None:
    return f"AWS_Lambda_python{sys.version_info[0]}.{sys.version_info[1]}"


def missing(spec: Any) -> str | None:
    return None

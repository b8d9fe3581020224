"""How each runtime of the functions file starts its worker process.

Each module gives ``argv(spec)`` (the program a worker runs, with cwd = the code directory),
``missing(spec)`` (what prevents it from starting, checked at start-up) and
``execution_env(spec)`` (``AWS_EXECUTION_ENV``; None for OS-only runtimes, as on AWS).
Python functions run over the pipe protocol (runtime.py); every other runtime is a Runtime
API client (runtime_api.py).
"""

from __future__ import annotations

import re
from types import ModuleType

from local_lambda.runtimes import command, nodejs, provided, python

NODEJS = re.compile(r"nodejs(18|20|22)\.x")
PROVIDED = ("provided", "provided.al2", "provided.al2023")
PYTHON = re.compile(r"python3\.\d+")


def module_for(runtime: str) -> ModuleType:
    if runtime == "command":
        return command
    if NODEJS.fullmatch(runtime):
        return nodejs
    if runtime in PROVIDED:
        return provided
    return python

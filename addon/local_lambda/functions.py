"""The declared functions (``FunctionSpec``) and resolving an Invoke's function name to one.

Versions are kept simple and honest: every function has ``$LATEST``; a version that an
alias names exists too and runs the same code. ``functions_file.py`` reads the file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from local_lambda.errors import ServiceError, function_not_found, invalid_parameter

LATEST = "$LATEST"

FUNCTION_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_QUALIFIER = re.compile(r"[A-Za-z0-9$_-]{1,128}")


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    """One declared function."""

    name: str
    handler_file: Path | None
    """Absolute path of a Python handler's file (None for the other runtimes)."""
    handler_name: str
    """Name of the Python handler callable in that file."""
    timeout: float
    memory_size: int
    environment: Mapping[str, str]
    aliases: Mapping[str, str]
    """Alias name -> version ("1", "2", ... or "$LATEST")."""
    reserved_concurrency: int | None
    runtime: str = "python"
    """"python" (the path.py:fn form), python3.x, nodejs2x.x, provided*, or "command"."""
    code_dir: Path = Path()
    """LAMBDA_TASK_ROOT: the worker's working directory."""
    handler_text: str = ""
    """_HANDLER as written in the file (AWS's form) for the runtimes other than "python"."""
    command: tuple[str, ...] = ()

    @property
    def uses_runtime_api(self) -> bool:
        return self.handler_file is None

    @property
    def versions(self) -> frozenset[str]:
        return frozenset({LATEST, *self.aliases.values()})

    @property
    def handler(self) -> str:
        if self.handler_file is None or self.handler_text:
            return self.handler_text
        return f"{self.handler_file}:{self.handler_name}"


@dataclass(frozen=True, slots=True)
class Target:
    """What an Invoke request resolved to."""

    spec: FunctionSpec
    version: str
    """The executed version ("$LATEST" or a number), after alias resolution."""
    invoked_arn: str
    """The ARN the caller invoked, with its qualifier if it gave one."""


@dataclass(frozen=True, slots=True)
class FunctionTable:
    """The declared functions, and how Invoke names (name, ARN, qualifier) resolve to them."""

    specs: Mapping[str, FunctionSpec]
    region: str
    account_id: str

    def arn(self, name: str, qualifier: str | None = None) -> str:
        suffix = f":{qualifier}" if qualifier else ""
        return f"arn:aws:lambda:{self.region}:{self.account_id}:function:{name}{suffix}"

    def resolve(self, function_name: str, qualifier: str | None) -> Target:
        """Resolve ``FunctionName`` (name, name:qualifier, full/partial ARN) and ``Qualifier``."""
        name, derived = _split_function_name(function_name)
        if qualifier is not None and not _QUALIFIER.fullmatch(qualifier):
            raise _validation(qualifier, "qualifier", _QUALIFIER.pattern)
        if derived is not None and qualifier is not None and derived != qualifier:
            raise invalid_parameter(
                "The derived qualifier from the function name does not match the specified "
                "qualifier."
            )
        wanted = derived if derived is not None else qualifier
        spec = self.specs.get(name)
        if spec is None:
            raise function_not_found(self.arn(name, wanted))
        if wanted is None or wanted == LATEST:
            version = LATEST
        elif wanted in spec.aliases:
            version = spec.aliases[wanted]
        elif wanted in spec.versions:
            version = wanted
        else:
            raise function_not_found(self.arn(name, wanted))
        return Target(spec, version, self.arn(name, wanted))


_NAME_PATTERN = (
    r"(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\d{1}:)?(\d{12}:)?"
    r"(function:)?([a-zA-Z0-9-_\.]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?"
)


def _split_function_name(function_name: str) -> tuple[str, str | None]:
    """``name``, ``name:qual``, ``acct:function:name[:qual]``, ``arn:...:function:name[:qual]``."""
    parts = function_name.split(":")
    if (
        parts[0] == "arn"
        and len(parts) in (7, 8)
        and parts[2] == "lambda"
        and parts[5] == "function"
    ):
        rest = parts[6:]
    elif len(parts) in (3, 4) and parts[1] == "function" and parts[0].isdigit():
        rest = parts[2:]
    elif len(parts) in (1, 2):
        rest = parts
    else:
        raise _validation(function_name, "functionName", _NAME_PATTERN)
    if not rest[0] or not FUNCTION_NAME.fullmatch(rest[0]):
        raise _validation(function_name, "functionName", _NAME_PATTERN)
    qualifier = rest[1] if len(rest) == 2 else None
    if qualifier is not None and not _QUALIFIER.fullmatch(qualifier):
        raise _validation(function_name, "functionName", _NAME_PATTERN)
    return rest[0], qualifier


def _validation(value: str, member: str, pattern: str) -> ServiceError:
    return ServiceError(
        400,
        "ValidationException",
        {
            "message": f"1 validation error detected: Value '{value}' at '{member}' failed to "
            f"satisfy constraint: Member must satisfy regular expression pattern: {pattern}"
        },
    )

"""The functions file: loading and validation, and resolving an Invoke's function name.

File format (paths relative to the file)::

    functions:
      echo:
        handler: functions/echo.py:handler
        timeout: 3              # seconds, default 3 as on AWS
        memory_size: 128
        environment: {GREETING: hi}
        aliases: {live: "1"}    # alias -> version
        reserved_concurrency: 10

Versions are kept simple and honest: every function has ``$LATEST``; a version that an
alias names exists too and runs the same code.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import yaml

from local_lambda.errors import (
    FunctionsFileError,
    ServiceError,
    function_not_found,
    invalid_parameter,
)

LATEST = "$LATEST"
DEFAULT_TIMEOUT = 3.0
DEFAULT_MEMORY_SIZE = 128

_FUNCTION_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_ALIAS_NAME = re.compile(r"(?!\d+$)[A-Za-z0-9_-]{1,128}")
_VERSION = re.compile(r"[1-9]\d{0,9}")
_ENV_NAME = re.compile(r"[A-Za-z]\w*")
_PY_IDENTIFIER = re.compile(r"[A-Za-z_]\w*")
_QUALIFIER = re.compile(r"[A-Za-z0-9$_-]{1,128}")
_FIELDS = ("handler", "timeout", "memory_size", "environment", "aliases", "reserved_concurrency")


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    """One declared function."""

    name: str
    handler_file: Path
    """Absolute path of the handler's Python file."""
    handler_name: str
    """Name of the handler callable in that file."""
    timeout: float
    memory_size: int
    environment: Mapping[str, str]
    aliases: Mapping[str, str]
    """Alias name -> version ("1", "2", ... or "$LATEST")."""
    reserved_concurrency: int | None

    @property
    def versions(self) -> frozenset[str]:
        return frozenset({LATEST, *self.aliases.values()})

    @property
    def handler(self) -> str:
        return f"{self.handler_file}:{self.handler_name}"


@dataclass(frozen=True, slots=True)
class Target:
    """What an Invoke request resolved to."""

    spec: FunctionSpec
    version: str
    """The executed version ("$LATEST" or a number), after alias resolution."""
    invoked_arn: str
    """The ARN the caller invoked, with its qualifier if it gave one."""


def load_functions(path: str | Path) -> dict[str, FunctionSpec]:
    """Read and validate a functions file; raise FunctionsFileError naming what is wrong."""
    file = Path(path)
    shown = str(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise FunctionsFileError(shown, f"cannot read the file: {exc.strerror}") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise FunctionsFileError(shown, f"not valid YAML: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("functions"), dict):
        raise FunctionsFileError(shown, "expected a mapping with a 'functions' mapping")
    extra = sorted(str(key) for key in document if key != "functions")
    if extra:
        raise FunctionsFileError(shown, f"unknown top-level keys: {', '.join(extra)}")
    if not document["functions"]:
        raise FunctionsFileError(shown, "'functions' declares no function")
    base = file.resolve().parent
    return {
        str(name): _load_function(shown, base, name, body)
        for name, body in document["functions"].items()
    }


def _load_function(shown: str, base: Path, name: Any, body: Any) -> FunctionSpec:
    label = str(name)

    def fail(field: str, message: str) -> FunctionsFileError:
        return FunctionsFileError(shown, message, function=label, field=field)

    if not isinstance(name, str) or not _FUNCTION_NAME.fullmatch(name):
        raise FunctionsFileError(
            shown, "a function name is 1-64 letters, digits, '-' or '_'", function=label
        )
    if not isinstance(body, dict):
        raise FunctionsFileError(shown, "expected a mapping of fields", function=label)
    unknown = sorted(str(key) for key in body if key not in _FIELDS)
    if unknown:
        raise fail(unknown[0], f"unknown field; the fields are {', '.join(_FIELDS)}")
    if "handler" not in body:
        raise fail("handler", "required, e.g. functions/echo.py:handler")
    handler_file, handler_name = _handler(body["handler"], base, fail)
    return FunctionSpec(
        name=name,
        handler_file=handler_file,
        handler_name=handler_name,
        timeout=_number(body.get("timeout", DEFAULT_TIMEOUT), 1, 900, "timeout", fail),
        memory_size=int(
            _number(
                body.get("memory_size", DEFAULT_MEMORY_SIZE), 128, 10240, "memory_size", fail, True
            )
        ),
        environment=_environment(body.get("environment", {}), fail),
        aliases=_aliases(body.get("aliases", {}), fail),
        reserved_concurrency=_reserved(body.get("reserved_concurrency"), fail),
    )


def _handler(value: Any, base: Path, fail: Any) -> tuple[Path, str]:
    if not isinstance(value, str) or ":" not in value:
        raise fail("handler", f"expected 'path/to/file.py:function', got {value!r}")
    file_part, _, callable_name = value.rpartition(":")
    if not _PY_IDENTIFIER.fullmatch(callable_name):
        raise fail("handler", f"{callable_name!r} is not a Python function name")
    if not file_part.endswith(".py"):
        raise fail("handler", f"{file_part!r} is not a .py file")
    handler_file = (base / file_part).resolve()
    if not handler_file.is_file():
        raise fail("handler", f"file not found: {handler_file}")
    return handler_file, callable_name


def _number(
    value: Any, low: float, high: float, field: str, fail: Any, integer: bool = False
) -> float:
    kinds: tuple[type, ...] = (int,) if integer else (int, float)
    if (
        isinstance(value, bool)
        or not isinstance(value, kinds)
        or not low <= cast(float, value) <= high
    ):
        kind = "an integer" if integer else "a number"
        raise fail(field, f"expected {kind} from {low:g} to {high:g}, got {value!r}")
    return float(cast(float, value))


def _environment(value: Any, fail: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise fail("environment", f"expected a mapping of variables, got {value!r}")
    environment: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not _ENV_NAME.fullmatch(key):
            raise fail("environment", f"{key!r} is not a valid variable name")
        if isinstance(item, bool):
            environment[key] = "true" if item else "false"
        elif isinstance(item, str | int | float):
            environment[key] = str(item)
        else:
            raise fail("environment", f"the value of {key} must be a string, got {item!r}")
    return environment


def _aliases(value: Any, fail: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise fail("aliases", f"expected a mapping of alias -> version, got {value!r}")
    aliases: dict[str, str] = {}
    for alias, version in value.items():
        if not isinstance(alias, str) or not _ALIAS_NAME.fullmatch(alias):
            raise fail("aliases", f"{alias!r} is not a valid alias name")
        text = (
            str(version) if isinstance(version, int | str) and not isinstance(version, bool) else ""
        )
        if text != LATEST and not _VERSION.fullmatch(text):
            raise fail(
                "aliases", f"alias {alias} must name a version number or $LATEST, got {version!r}"
            )
        aliases[alias] = text
    return aliases


def _reserved(value: Any, fail: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise fail("reserved_concurrency", f"expected an integer >= 0, got {value!r}")
    return value


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
    if not rest[0] or not _FUNCTION_NAME.fullmatch(rest[0]):
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

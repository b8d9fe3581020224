"""The functions file: reading it and validating each function's fields into FunctionSpecs.

File format (paths relative to the file)::

    functions:
      echo:
        handler: functions/echo.py:handler
        timeout: 3              # seconds, default 3 as on AWS
        memory_size: 128
        environment: {GREETING: hi}
        aliases: {live: "1"}    # alias -> version
        reserved_concurrency: 10
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, cast

import yaml

from local_lambda.errors import FunctionsFileError
from local_lambda.functions import FUNCTION_NAME, LATEST, FunctionSpec

DEFAULT_TIMEOUT = 3.0
DEFAULT_MEMORY_SIZE = 128

_ALIAS_NAME = re.compile(r"(?!\d+$)[A-Za-z0-9_-]{1,128}")
_VERSION = re.compile(r"[1-9]\d{0,9}")
_ENV_NAME = re.compile(r"[A-Za-z]\w*")
_PY_IDENTIFIER = re.compile(r"[A-Za-z_]\w*")
_FIELDS = (
    "handler",
    "runtime",
    "code",
    "command",
    "timeout",
    "memory_size",
    "environment",
    "aliases",
    "reserved_concurrency",
)


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

    if not isinstance(name, str) or not FUNCTION_NAME.fullmatch(name):
        raise FunctionsFileError(
            shown, "a function name is 1-64 letters, digits, '-' or '_'", function=label
        )
    if not isinstance(body, dict):
        raise FunctionsFileError(shown, "expected a mapping of fields", function=label)
    unknown = sorted(str(key) for key in body if key not in _FIELDS)
    if unknown:
        raise fail(unknown[0], f"unknown field; the fields are {', '.join(_FIELDS)}")
    aws_form = _aws_form(body, base, fail)
    if aws_form is None:
        if "handler" not in body:
            raise fail("handler", "required, e.g. functions/echo.py:handler")
        handler_file, handler_name = _handler(body["handler"], base, fail)
        aws_form = {
            "handler_file": handler_file,
            "handler_name": handler_name,
            "code_dir": handler_file.parent,
        }
    return FunctionSpec(
        name=name,
        **aws_form,
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


def _aws_form(body: dict[str, Any], base: Path, fail: Any) -> dict[str, Any] | None:
    """The fields of the runtime/code/handler and command forms, or None (path.py:fn form)."""
    from local_lambda.runtimes import NODEJS, PROVIDED, PYTHON

    if not any(key in body for key in ("runtime", "code", "command")):
        return None
    if "runtime" in body and "command" in body:
        raise fail("command", "give either 'runtime' or 'command', not both")
    code_value = body.get("code", ".")
    if not isinstance(code_value, str):
        raise fail("code", f"expected a directory path, got {code_value!r}")
    code_dir = (base / code_value).resolve()
    if not code_dir.is_dir():
        raise fail("code", f"directory not found: {code_dir}")
    handler = body.get("handler", "")
    if not isinstance(handler, str):
        raise fail("handler", f"expected a string, got {handler!r}")
    fields: dict[str, Any] = {
        "handler_file": None,
        "handler_name": "",
        "code_dir": code_dir,
        "handler_text": handler,
    }
    if "command" in body:
        command = body["command"]
        if (
            not isinstance(command, list)
            or not command
            or not all(isinstance(part, str | int) for part in command)
        ):
            raise fail("command", f"expected a list of arguments, got {command!r}")
        return {**fields, "runtime": "command", "command": tuple(str(p) for p in command)}
    runtime = body.get("runtime")
    if not isinstance(runtime, str) or not (
        NODEJS.fullmatch(runtime) or runtime in PROVIDED or PYTHON.fullmatch(runtime)
    ):
        raise fail(
            "runtime",
            f"expected nodejs18.x/nodejs20.x/nodejs22.x, provided/provided.al2/provided.al2023 "
            f"or python3.x, got {runtime!r}",
        )
    if runtime in PROVIDED:
        return {**fields, "runtime": runtime}
    module, _, function = handler.rpartition(".")
    if not module or not function:
        form = "module.function" if runtime.startswith("python") else "file.export"
        raise fail("handler", f"expected AWS's {form} form, got {handler!r}")
    if runtime.startswith("python"):
        if not _PY_IDENTIFIER.fullmatch(function):
            raise fail("handler", f"{function!r} is not a Python function name")
        handler_file = code_dir / (module.replace(".", "/") + ".py")
        return {
            **fields,
            "runtime": runtime,
            "handler_file": handler_file,
            "handler_name": function,
        }
    return {**fields, "runtime": runtime}


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

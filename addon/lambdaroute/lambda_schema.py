"""The ``aws-lambda`` plugin's ``config`` schema: Kong's fields, defaults, types, rules and
error messages (``kong/plugins/aws-lambda/schema.lua``), plus lambda-route's extensions.

``parse_lambda_config`` turns a raw ``config`` mapping into a ``LambdaPluginConfig`` or
raises ``FieldError`` (a field path and Kong's message).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .config_types import LambdaPluginConfig
from .validators import (
    FieldError,
    unknown_field,
    validate_host,
    validate_url,
    validate_url_id,
)
from .vault import EnvVault, VaultError, is_reference, resolve


@dataclass(frozen=True, slots=True)
class _Field:
    kind: str  # "string" | "number" | "integer" | "boolean" | "string_map"
    required: bool = False  # Kong's required: an explicit null is an error
    one_of: tuple[Any, ...] = ()
    between: tuple[int, int] | None = None
    validator: Callable[[str], str | None] | None = None
    referenceable: bool = False


_STRING = _Field("string")
_BOOLEAN = _Field("boolean")
_HOST = _Field("string", validator=validate_host)
_URL = _Field("string", validator=validate_url)
_SECRET = _Field("string", referenceable=True)

#: field name -> rule; the defaults are those of LambdaPluginConfig
_FIELDS: dict[str, _Field] = {
    "timeout": _Field("number", required=True),
    "keepalive": _Field("number", required=True),
    "aws_key": _SECRET,
    "aws_secret": _SECRET,
    "aws_assume_role_arn": _SECRET,
    "aws_role_session_name": _STRING,
    "aws_sts_endpoint_url": _URL,
    "aws_region": _HOST,
    "function_name": _STRING,
    "qualifier": _STRING,
    "invocation_type": _Field(
        "string", required=True, one_of=("RequestResponse", "Event", "DryRun")
    ),
    "log_type": _Field("string", required=True, one_of=("Tail", "None")),
    "host": _HOST,
    "port": _Field("integer", between=(0, 65535)),
    "disable_https": _BOOLEAN,
    "unhandled_status": _Field("integer", between=(100, 999)),
    "forward_request_method": _BOOLEAN,
    "forward_request_uri": _BOOLEAN,
    "forward_request_headers": _BOOLEAN,
    "forward_request_body": _BOOLEAN,
    "is_proxy_integration": _BOOLEAN,
    "awsgateway_compatible": _BOOLEAN,
    "awsgateway_compatible_payload_version": _Field("string", one_of=("1.0", "2.0")),
    "proxy_url": _URL,
    "skip_large_bodies": _BOOLEAN,
    "base64_encode_body": _BOOLEAN,
    "aws_imds_protocol_version": _Field("string", required=True, one_of=("v1", "v2")),
    "empty_arrays_mode": _Field("string", required=True, one_of=("legacy", "correct")),
    # lambda-route extensions
    "alb_target_compatible": _BOOLEAN,
    "alb_multi_value_headers": _BOOLEAN,
    "awsgateway_stage": _STRING,
    "awsgateway_api_id": _STRING,
    "awsgateway_account_id": _STRING,
    "awsgateway_resource_id": _STRING,
    "awsgateway_stage_variables": _Field("string_map"),
    "alb_target_group_arn": _STRING,
    "invoke_mode": _Field("string", one_of=("BUFFERED", "RESPONSE_STREAM")),
    "function_url_compatible": _BOOLEAN,
    "function_url_id": _Field("string", validator=validate_url_id),
    "function_url_auth_type": _Field("string", one_of=("NONE", "AWS_IAM")),
    "function_url_caller": _Field("string_map"),
}

#: the keys of ``function_url_caller``: ``requestContext.authorizer.iam``'s fields
FUNCTION_URL_CALLER_KEYS = (
    "accessKey",
    "accountId",
    "callerId",
    "principalOrgId",
    "userArn",
    "userId",
)
#: the event modes function_url_compatible cannot be combined with
_OTHER_EVENT_MODES = ("awsgateway_compatible", "alb_target_compatible")

_PROXY_SCHEME = re.compile(r"^([^:]+)://")


def _type_error(kind: str) -> str:
    article = "an" if kind == "integer" else "a"
    return f"expected {article} {kind}"


def _check_type(name: str, rule: _Field, value: Any) -> Any:
    """The value converted to the rule's Python type, or FieldError with Kong's message."""
    field = f"config.{name}"
    if rule.kind == "string":
        if not isinstance(value, str):
            raise FieldError(field, "expected a string")
        return value
    if rule.kind == "boolean":
        if not isinstance(value, bool):
            raise FieldError(field, "expected a boolean")
        return value
    if rule.kind in ("number", "integer"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise FieldError(field, _type_error(rule.kind))
        if isinstance(value, float) and not math.isfinite(value):
            raise FieldError(field, _type_error(rule.kind))
        if rule.kind == "integer":
            if isinstance(value, float):
                if not value.is_integer():
                    raise FieldError(field, "expected an integer")
                value = int(value)
            return value
        return value
    # string_map
    if not isinstance(value, Mapping):
        raise FieldError(field, "expected a map")
    for key, item in value.items():
        if not isinstance(key, str):
            raise FieldError(field, "expected a string key")
        if not isinstance(item, str):
            raise FieldError(f"{field}.{key}", "expected a string")
    return dict(value)


def _check_rules(name: str, rule: _Field, value: Any) -> None:
    field = f"config.{name}"
    if rule.one_of and value not in rule.one_of:
        raise FieldError(field, "expected one of: " + ", ".join(str(v) for v in rule.one_of))
    if rule.between is not None:
        low, high = rule.between
        if not low <= value <= high:
            raise FieldError(field, f"value should be between {low} and {high}")
    if rule.validator is not None:
        error = rule.validator(value)
        if error is not None:
            raise FieldError(field, error)


def parse_lambda_config(raw: Any, vaults: Mapping[str, EnvVault]) -> LambdaPluginConfig:
    """Validate an ``aws-lambda`` ``config`` (None means all defaults); resolve vault
    references of referenceable fields."""
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise FieldError("config", "expected a record")
    values: dict[str, Any] = {}
    for key, value in raw.items():
        name = str(key)
        rule = _FIELDS.get(name)
        if rule is None:
            raise unknown_field(f"config.{name}", name, _FIELDS)
        if value is None:
            if rule.required:
                raise FieldError(f"config.{name}", "required field missing")
            continue  # null: the field is unset, Kong then behaves as with the default
        value = _check_type(name, rule, value)
        if rule.referenceable and is_reference(value):
            try:
                value = resolve(value, vaults)
            except VaultError as exc:
                raise FieldError(f"config.{name}", str(exc)) from None
        else:
            _check_rules(name, rule, value)
        values[name] = value

    if ("aws_key" in values) != ("aws_secret" in values):
        missing = "aws_secret" if "aws_key" in values else "aws_key"
        raise FieldError(
            f"config.{missing}",
            "all or none of these fields must be set: 'config.aws_key', 'config.aws_secret'",
        )
    _check_streaming_and_function_url(values)
    proxy_url = values.get("proxy_url")
    if proxy_url is not None:
        m = _PROXY_SCHEME.match(proxy_url)
        if m is not None and m.group(1) != "http":
            raise FieldError("config.proxy_url", "proxy_url scheme must be http")
    return LambdaPluginConfig(**values)


def _check_streaming_and_function_url(values: Mapping[str, Any]) -> None:
    """The rules between lambda-route's streaming / Function URL fields and the others."""
    if values.get("invoke_mode") == "RESPONSE_STREAM" and values.get("invocation_type") == "Event":
        raise FieldError(
            "config.invocation_type",
            "Event cannot be used with invoke_mode RESPONSE_STREAM "
            "(InvokeWithResponseStream takes RequestResponse or DryRun)",
        )
    if values.get("function_url_compatible") is True:
        for other in _OTHER_EVENT_MODES:
            if values.get(other) is True:
                raise FieldError(
                    "config.function_url_compatible",
                    f"cannot be true together with 'config.{other}' "
                    "(each builds a different event)",
                )
    caller = values.get("function_url_caller") or {}
    for key in caller:
        if key not in FUNCTION_URL_CALLER_KEYS:
            raise unknown_field(f"config.function_url_caller.{key}", key, FUNCTION_URL_CALLER_KEYS)

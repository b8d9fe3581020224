"""The streaming and Function URL fields of the aws-lambda config (issue 11): defaults,
types, rules, and one clear error naming the file, the entity and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from lambdaroute.function_url import FunctionUrlSettings
from tests.test_config import plugin_config, plugin_error


def test_defaults(tmp_path: Path) -> None:
    conf = plugin_config(tmp_path, {})
    assert conf.invoke_mode == "BUFFERED"
    assert conf.function_url_compatible is False
    assert conf.function_url_auth_type == "NONE"
    assert conf.function_url_id is None and conf.function_url_caller is None


def test_every_streaming_field_is_read(tmp_path: Path) -> None:
    conf = plugin_config(
        tmp_path,
        {
            "invoke_mode": "RESPONSE_STREAM",
            "function_url_compatible": True,
            "function_url_id": "abcdefghij0123456789klmnopqrstuv",
            "function_url_auth_type": "AWS_IAM",
            "function_url_caller": {"accessKey": "AKIAEXAMPLE", "userArn": "arn:aws:iam::1:u"},
            "aws_region": "eu-west-1",
            "awsgateway_account_id": "111122223333",
        },
    )
    assert conf.invoke_mode == "RESPONSE_STREAM" and conf.function_url_compatible
    settings = FunctionUrlSettings.of(conf, "eu-west-1")
    assert settings.domain_name == "abcdefghij0123456789klmnopqrstuv.lambda-url.eu-west-1.on.aws"
    assert settings.auth_type == "AWS_IAM" and settings.account_id == "111122223333"
    assert settings.caller.access_key == "AKIAEXAMPLE"
    assert settings.caller.user_arn == "arn:aws:iam::1:u"


def test_url_id_defaults_to_the_api_id(tmp_path: Path) -> None:
    conf = plugin_config(tmp_path, {"awsgateway_api_id": "myapi"})
    assert FunctionUrlSettings.of(conf, "us-east-1").url_id == "myapi"


@pytest.mark.parametrize(
    ("config", "field", "message"),
    [
        ({"invoke_mode": "STREAM"}, "invoke_mode", "expected one of: BUFFERED, RESPONSE_STREAM"),
        ({"invoke_mode": 1}, "invoke_mode", "expected a string"),
        ({"function_url_compatible": "yes"}, "function_url_compatible", "expected a boolean"),
        ({"function_url_auth_type": "IAM"}, "function_url_auth_type", "expected one of"),
        ({"function_url_id": "Not_A_Label"}, "function_url_id", "DNS label"),
        ({"function_url_caller": {"accessKey": 1}}, "function_url_caller.accessKey", "string"),
        (
            {"function_url_caller": {"acessKey": "A"}},
            "function_url_caller.acessKey",
            "unknown field; did you mean 'accessKey'?",
        ),
        (
            {"invoke_mode": "RESPONSE_STREAM", "invocation_type": "Event"},
            "invocation_type",
            "Event cannot be used with invoke_mode RESPONSE_STREAM",
        ),
        (
            {"function_url_compatible": True, "awsgateway_compatible": True},
            "function_url_compatible",
            "cannot be true together with 'config.awsgateway_compatible'",
        ),
        (
            {"function_url_compatible": True, "alb_target_compatible": True},
            "function_url_compatible",
            "cannot be true together with 'config.alb_target_compatible'",
        ),
    ],
)
def test_invalid_values_name_file_entity_and_field(
    tmp_path: Path, config: dict[str, object], field: str, message: str
) -> None:
    err = str(plugin_error(tmp_path, config))
    assert err.startswith(f"{tmp_path / 'kong.json'}: plugin 'aws-lambda' (route 'r'), ")
    assert f"field 'config.{field}': " in err
    assert message in err
    assert "Traceback" not in err


def test_event_with_buffered_mode_and_dry_run_streams_are_fine(tmp_path: Path) -> None:
    assert plugin_config(tmp_path, {"invocation_type": "Event"}).invocation_type == "Event"
    conf = plugin_config(tmp_path, {"invoke_mode": "RESPONSE_STREAM", "invocation_type": "DryRun"})
    assert conf.invocation_type == "DryRun"

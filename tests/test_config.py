"""Kong declarative config loading: entities, Kong's validation rules and exact messages,
vault references, plugin precedence, and "never anything but ConfigError"."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest

from lambdaroute.config import LambdaPluginConfig, LambdaRouteConfig, Route, load_config
from lambdaroute.errors import ConfigError

CONFIGS = Path(__file__).parent / "configs"


def write(tmp_path: Path, text: str, name: str = "kong.yaml") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


def load(tmp_path: Path, text: str) -> LambdaRouteConfig:
    return load_config(write(tmp_path, text))


def error(tmp_path: Path, text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text)
    return info.value


def plugin_config(tmp_path: Path, config: dict[str, object]) -> LambdaPluginConfig:
    """Load a serviceless route with one route-level aws-lambda plugin of this config."""
    doc = {
        "_format_version": "3.0",
        "routes": [
            {"name": "r", "paths": ["/"], "plugins": [{"name": "aws-lambda", "config": config}]}
        ],
    }
    path = tmp_path / "kong.json"
    path.write_text(json.dumps(doc))
    routes = load_config(str(path)).routes
    assert routes[0].lambda_plugin is not None
    return routes[0].lambda_plugin


def plugin_error(tmp_path: Path, config: dict[str, object]) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        plugin_config(tmp_path, config)
    return info.value


# --- realistic files -------------------------------------------------------------------------


def test_kong_docs_example_loads_as_it_is() -> None:
    config = load_config(str(CONFIGS / "kong-docs-example.yaml"))
    (route,) = config.routes
    assert route.paths == ("/lambda1",)
    assert route.service is not None and route.service.name == "lambda1"
    assert route.service.host == "localhost" and route.service.port == 8000
    plugin = route.lambda_plugin
    assert plugin is not None
    assert plugin.function_name == "MyLambda"
    assert plugin.aws_region == "us-east-1"
    assert plugin.aws_key == "AKIAIOSFODNN7EXAMPLE"


def test_typical_nested_file_loads() -> None:
    config = load_config(str(CONFIGS / "kong-nested.yaml"))
    (route,) = config.routes
    assert route.name == "orders"
    assert route.methods == ("GET", "POST")
    assert route.service is not None and route.service.path == "/v1"
    plugin = route.lambda_plugin
    assert plugin is not None
    assert (plugin.function_name, plugin.qualifier, plugin.timeout) == (
        "orders-handler",
        "live",
        10000,
    )
    assert plugin.awsgateway_compatible and plugin.forward_request_body
    assert plugin.unhandled_status == 502
    assert config.ignored_plugins == ()


def test_full_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAMBDAROUTE_TEST_KEY", "AKIDFULL")
    monkeypatch.setenv("LAMBDAROUTE_TEST_SECRET", "full-secret")
    config = load_config(str(CONFIGS / "kong-full.yaml"))
    by_name = {r.name: r for r in config.routes}
    assert list(by_name) == ["invoices", "billing-health", "catalog-items", "serviceless"]
    assert [r.order for r in config.routes] == [0, 1, 2, 3]
    # service-level plugin beats the global one; the disabled route-level one is skipped
    invoices, health = by_name["invoices"], by_name["billing-health"]
    assert invoices.lambda_plugin and invoices.lambda_plugin.function_name == "billing-default"
    assert health.lambda_plugin and health.lambda_plugin.function_name == "billing-default"
    # a top-level route-scoped plugin beats the global one
    items = by_name["catalog-items"].lambda_plugin
    assert items and items.function_name == "catalog-items"
    assert items.awsgateway_compatible_payload_version == "2.0"
    # the global plugin, with secrets from a vaults entity's prefix
    serviceless = by_name["serviceless"]
    assert serviceless.service is None
    assert serviceless.lambda_plugin and serviceless.lambda_plugin.function_name == "global-default"
    assert serviceless.lambda_plugin.aws_key == "AKIDFULL"
    assert serviceless.lambda_plugin.aws_secret == "full-secret"
    assert serviceless.https_redirect_status_code == 308
    assert by_name["catalog-items"].headers[0].values == ("2", "~*^v2")
    assert config.ignored_plugins == ("rate-limiting", "cors")
    # alice's plugin applies to every route once key-auth (not configured here) knows her
    alice = config.consumers[0]
    chain = [(p.consumer, p.config.function_name) for p in by_name["serviceless"].lambda_plugins]
    assert chain == [(alice, "alice-only"), (None, "global-default")]
    assert config.credentials.keys["alice-key"].consumer is alice
    assert [c.username for c in config.consumers] == ["alice"]
    billing = config.services[0]
    assert (billing.protocol, billing.host, billing.port, billing.path) == (
        "https",
        "billing.internal",
        8443,
        "/api/",
    )


def test_json_file() -> None:
    config = load_config(str(CONFIGS / "kong-json.json"))
    plugin = config.routes[0].lambda_plugin
    assert plugin is not None
    assert (plugin.host, plugin.port, plugin.disable_https) == ("127.0.0.1", 9001, True)


# --- reading and parsing ---------------------------------------------------------------------


def test_missing_file() -> None:
    with pytest.raises(ConfigError, match="cannot read the file") as info:
        load_config("/nonexistent/kong.yaml")
    assert str(info.value).startswith("/nonexistent/kong.yaml: ")


def test_directory_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the file"):
        load_config(str(tmp_path))


def test_yaml_syntax_error_names_line_and_column(tmp_path: Path) -> None:
    err = error(tmp_path, '_format_version: "3.0"\nroutes:\n  - paths: [/a\n  - name: b\n')
    assert "invalid YAML at line 4, column" in str(err)


def test_json_syntax_error_names_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, '{\n  "_format_version": "3.0",\n  "routes": [}\n', "kong.json")
    with pytest.raises(ConfigError, match=r"invalid JSON at line 3, column 14"):
        load_config(path)


def test_json_content_in_a_yaml_file(tmp_path: Path) -> None:
    config = load(tmp_path, '{"_format_version": "3.0", "routes": [{"paths": ["/x"]}]}')
    assert config.routes[0].paths == ("/x",)


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "kong.yaml"
    path.write_bytes(b"_format_version: '3.0'\n# \xff\xfe\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(str(path))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the file is empty"),
        ("- a\n- b\n", "expected a mapping of Kong entities at the top level"),
        ("services: []\n", "field '_format_version': required field missing"),
        ('_format_version: "4.0"\n', "expected one of: 1.1, 2.1, 3.0"),
        ('_format_version: "3.0"\nservice: []\n', "field 'service': unknown field"),
        ('_format_version: "3.0"\nservices: {}\n', "field 'services': expected an array"),
        ('_format_version: "3.0"\n_transform: "yes"\n', "'_transform': expected a boolean"),
        ('_format_version: "3.0"\na: !!python/object:os.system {}\n', "invalid YAML at line 2"),
    ],
)
def test_top_level_errors(tmp_path: Path, text: str, message: str) -> None:
    assert message in str(error(tmp_path, text))


@pytest.mark.parametrize("version", ['"1.1"', '"2.1"', '"3.0"', "3.0"])
def test_format_versions(tmp_path: Path, version: str) -> None:
    assert load(tmp_path, f"_format_version: {version}\n").routes == ()


def test_other_kong_top_level_keys_are_accepted(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
        _format_version: "3.0"
        _transform: false
        _workspace: default
        upstreams: [{name: u, targets: [{target: "10.0.0.1:80"}]}]
        certificates: [{cert: x, key: y}]
        ca_certificates: []
        vaults: [{name: aws, prefix: aws-vault}]
        parameters: []
        keyauth_credentials: []
        """,
    )
    assert config.routes == ()


# --- the aws-lambda config -----------------------------------------------------------------


def test_defaults_are_kongs_except_empty_arrays_mode(tmp_path: Path) -> None:
    assert plugin_config(tmp_path, {}) == LambdaPluginConfig()
    conf = LambdaPluginConfig()
    assert (conf.timeout, conf.keepalive, conf.port) == (60000, 60000, 443)
    assert (conf.invocation_type, conf.log_type) == ("RequestResponse", "Tail")
    assert conf.aws_role_session_name == "kong"
    assert conf.skip_large_bodies and conf.base64_encode_body
    assert conf.empty_arrays_mode == "correct"
    assert conf.awsgateway_compatible_payload_version == "1.0"


def test_plugin_without_config_uses_defaults(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
        _format_version: "3.0"
        routes: [{paths: [/], plugins: [{name: aws-lambda}]}]
        """,
    )
    assert config.routes[0].lambda_plugin == LambdaPluginConfig()


def test_every_field_is_read(tmp_path: Path) -> None:
    values: dict[str, object] = {
        "timeout": 1500.5,
        "keepalive": 1000,
        "aws_key": "AKID",
        "aws_secret": "SECRET",
        "aws_assume_role_arn": "arn:aws:iam::123456789012:role/r",
        "aws_role_session_name": "sess",
        "aws_sts_endpoint_url": "https://sts.example.com",
        "aws_region": "eu-central-1",
        "function_name": "fn",
        "qualifier": "3",
        "invocation_type": "Event",
        "log_type": "None",
        "host": "lambda.example.com",
        "port": 8443,
        "disable_https": True,
        "unhandled_status": 999,
        "forward_request_method": True,
        "forward_request_uri": True,
        "forward_request_headers": True,
        "forward_request_body": True,
        "is_proxy_integration": True,
        "awsgateway_compatible": True,
        "awsgateway_compatible_payload_version": "2.0",
        "proxy_url": "http://proxy.local:3128",
        "skip_large_bodies": False,
        "base64_encode_body": False,
        "aws_imds_protocol_version": "v2",
        "empty_arrays_mode": "legacy",
        "alb_target_compatible": True,
        "alb_multi_value_headers": True,
        "awsgateway_stage": "prod",
        "awsgateway_api_id": "abc123",
        "awsgateway_account_id": "111122223333",
        "awsgateway_resource_id": "res",
        "awsgateway_stage_variables": {"a": "b"},
        "alb_target_group_arn": "arn:aws:elasticloadbalancing:eu-west-1:1:targetgroup/x/y",
    }
    conf = plugin_config(tmp_path, values)
    for name, value in values.items():
        assert getattr(conf, name) == value, name


def test_integral_float_is_an_integer(tmp_path: Path) -> None:
    conf = plugin_config(tmp_path, {"unhandled_status": 500.0, "port": 9000.0})
    assert conf.unhandled_status == 500 and isinstance(conf.unhandled_status, int)
    assert conf.port == 9000 and isinstance(conf.port, int)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("timeout", "60000", "expected a number"),
        ("timeout", True, "expected a number"),
        ("keepalive", [], "expected a number"),
        ("port", 1.5, "expected an integer"),
        ("port", "443", "expected an integer"),
        ("unhandled_status", "500", "expected an integer"),
        ("disable_https", "true", "expected a boolean"),
        ("is_proxy_integration", 1, "expected a boolean"),
        ("function_name", 5, "expected a string"),
        ("aws_region", ["us-east-1"], "expected a string"),
        ("awsgateway_stage_variables", {"a": 1}, "expected a string"),
        ("awsgateway_stage_variables", "a=b", "expected a map"),
        ("unhandled_status", 99, "value should be between 100 and 999"),
        ("unhandled_status", 1000, "value should be between 100 and 999"),
        ("port", 65536, "value should be between 0 and 65535"),
        ("port", -1, "value should be between 0 and 65535"),
        ("invocation_type", "Async", "expected one of: RequestResponse, Event, DryRun"),
        ("log_type", "tail", "expected one of: Tail, None"),
        ("aws_imds_protocol_version", "v3", "expected one of: v1, v2"),
        ("empty_arrays_mode", "fixed", "expected one of: legacy, correct"),
        ("awsgateway_compatible_payload_version", "3.0", "expected one of: 1.0, 2.0"),
        ("aws_region", "us east 1", "invalid value: us east 1"),
        ("aws_region", "us-east-1:443", "must not have a port"),
        ("host", "lambda.local:9000", "must not have a port"),
        ("host", "bad_host!", "invalid value: bad_host!"),
        ("proxy_url", "https://proxy:3128", "proxy_url scheme must be http"),
        ("proxy_url", "ftp://proxy:21", "proxy_url scheme must be http"),
        ("proxy_url", "proxy.local:3128", "missing host in url"),
        ("proxy_url", "//proxy.local:3128", "missing scheme in url"),
        ("aws_sts_endpoint_url", "sts.amazonaws.com", "missing host in url"),
        ("timeout", None, "required field missing"),
        ("invocation_type", None, "required field missing"),
        ("proxy_scheme", "http", "unknown field"),
        ("functionname", "x", "unknown field; did you mean 'function_name'?"),
        ("function_nme", "x", "unknown field; did you mean 'function_name'?"),
    ],
)
def test_field_validation_messages(tmp_path: Path, field: str, value: object, message: str) -> None:
    err = plugin_error(tmp_path, {field: value})
    assert err.message == message
    assert err.field.startswith(f"config.{field}")
    assert err.entity == "plugin 'aws-lambda' (route 'r')"
    assert str(err).startswith(f"{tmp_path / 'kong.json'}: plugin 'aws-lambda' (route 'r'), field")


def test_null_optional_field_means_default(tmp_path: Path) -> None:
    conf = plugin_config(tmp_path, {"port": None, "function_name": None, "disable_https": None})
    assert (conf.port, conf.function_name, conf.disable_https) == (443, None, False)


def test_proxy_url_http_is_accepted(tmp_path: Path) -> None:
    assert plugin_config(tmp_path, {"proxy_url": "http://proxy:3128"}).proxy_url == (
        "http://proxy:3128"
    )


@pytest.mark.parametrize(
    ("config", "field"),
    [({"aws_key": "AKID"}, "config.aws_secret"), ({"aws_secret": "s3cr3t"}, "config.aws_key")],
)
def test_aws_key_and_secret_are_mutually_required(
    tmp_path: Path, config: dict[str, object], field: str
) -> None:
    err = plugin_error(tmp_path, config)
    assert err.message == (
        "all or none of these fields must be set: 'config.aws_key', 'config.aws_secret'"
    )
    assert err.field == field
    assert "s3cr3t" not in str(err) and "AKID" not in str(err)


def test_region_and_host_may_both_be_set(tmp_path: Path) -> None:
    conf = plugin_config(tmp_path, {"aws_region": "us-east-1", "host": "10.0.0.5"})
    assert (conf.aws_region, conf.host) == ("us-east-1", "10.0.0.5")


def test_secret_value_never_in_type_errors(tmp_path: Path) -> None:
    err = plugin_error(tmp_path, {"aws_key": "AKID", "aws_secret": 123456789})
    assert err.message == "expected a string"
    assert "123456789" not in str(err)


# --- vault references ----------------------------------------------------------------------


def test_env_vault_reference(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_AWS_KEY", "AKIDVAULT")
    monkeypatch.setenv("MY_AWS_SECRET", "vault-secret")
    monkeypatch.setenv("ROLE_ARN", "arn:aws:iam::1:role/x")
    conf = plugin_config(
        tmp_path,
        {
            "aws_key": "{vault://env/my-aws-key}",
            "aws_secret": "{vault://env/MY_AWS_SECRET}",
            "aws_assume_role_arn": "{vault://env/role_arn}",
        },
    )
    assert (conf.aws_key, conf.aws_secret) == ("AKIDVAULT", "vault-secret")
    assert conf.aws_assume_role_arn == "arn:aws:iam::1:role/x"


def test_env_vault_json_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_CREDS", json.dumps({"key": "AKIDJSON", "secret": "json-secret"}))
    conf = plugin_config(
        tmp_path,
        {"aws_key": "{vault://env/aws-creds/key}", "aws_secret": "{vault://env/aws-creds/secret}"},
    )
    assert (conf.aws_key, conf.aws_secret) == ("AKIDJSON", "json-secret")


def test_env_vault_query_prefix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECURE_ROLE", "arn:aws:iam::1:role/y")
    conf = plugin_config(tmp_path, {"aws_assume_role_arn": "{vault://env/role?prefix=secure_}"})
    assert conf.aws_assume_role_arn == "arn:aws:iam::1:role/y"


def test_missing_env_variable_names_the_reference(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NOT_THERE", raising=False)
    monkeypatch.setenv("PRESENT_SECRET", "do-not-print-me")
    err = plugin_error(
        tmp_path,
        {"aws_key": "{vault://env/not-there}", "aws_secret": "{vault://env/present-secret}"},
    )
    assert err.field == "config.aws_key"
    assert err.message == (
        "could not resolve reference {vault://env/not-there} "
        "(environment variable NOT_THERE is not set)"
    )
    assert "do-not-print-me" not in str(err)


def test_json_key_errors_do_not_print_the_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CREDS", "not-json-secret")
    err = plugin_error(tmp_path, {"aws_assume_role_arn": "{vault://env/creds/arn}"})
    assert "is not a JSON object" in err.message
    assert "not-json-secret" not in str(err)


def test_unsupported_vault(tmp_path: Path) -> None:
    err = plugin_error(tmp_path, {"aws_assume_role_arn": "{vault://aws/my-secret}"})
    assert "vault 'aws' is not an env vault" in err.message


def test_non_referenceable_field_keeps_the_text(tmp_path: Path) -> None:
    conf = plugin_config(tmp_path, {"function_name": "{vault://env/fn}"})
    assert conf.function_name == "{vault://env/fn}"


# --- routes ------------------------------------------------------------------------------------


def route_error(tmp_path: Path, route: dict[str, object]) -> ConfigError:
    path = tmp_path / "kong.json"
    path.write_text(json.dumps({"_format_version": "3.0", "routes": [route]}))
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    return info.value


def load_route(tmp_path: Path, route: dict[str, object]) -> Route:
    path = tmp_path / "kong.json"
    path.write_text(json.dumps({"_format_version": "3.0", "routes": [route]}))
    return load_config(str(path)).routes[0]


def test_route_defaults(tmp_path: Path) -> None:
    route = load_route(tmp_path, {"name": "r", "paths": ["/a"]})
    assert route.strip_path is True and route.preserve_host is False
    assert route.protocols == ("http", "https")
    assert route.regex_priority == 0 and route.https_redirect_status_code == 426
    assert route.path_handling == "v0" and route.service is None and route.lambda_plugin is None


def test_route_fields(tmp_path: Path) -> None:
    route = load_route(
        tmp_path,
        {
            "name": "r",
            "id": "0b2d6a8e-5e3b-4d3e-9b7c-1d2e3f4a5b6c",
            "hosts": ["Example.com", "*.example.org", "api.*", "example.net:8080"],
            "paths": ["/a", "~/b/(?<x>\\d+)"],
            "methods": ["GET", "GET", "POST"],
            "headers": {"X-Version": ["1", "~*^v1"]},
            "protocols": ["https"],
            "snis": ["example.com"],
            "strip_path": False,
            "preserve_host": True,
            "regex_priority": -5,
            "path_handling": "v1",
            "https_redirect_status_code": 301,
            "request_buffering": False,
            "response_buffering": True,
            "tags": ["t1"],
        },
    )
    assert route.methods == ("GET", "POST")
    assert route.headers[0].name == "x-version" and route.headers[0].values == ("1", "~*^v1")
    assert route.hosts[0] == "Example.com"
    assert (route.strip_path, route.preserve_host, route.regex_priority) == (False, True, -5)
    assert route.snis == ("example.com",) and route.https_redirect_status_code == 301


@pytest.mark.parametrize(
    ("route", "field", "message"),
    [
        (
            {"name": "r"},
            "",
            "must set one of 'methods', 'hosts', 'headers', 'paths', 'snis' when 'protocols' "
            "is 'https'",
        ),
        (
            {"name": "r", "protocols": ["http"], "paths": []},
            "",
            "must set one of 'methods', 'hosts', 'headers', 'paths' when 'protocols' is 'http'",
        ),
        (
            {"name": "r", "protocols": ["grpc"]},
            "",
            "must set one of 'hosts', 'headers', 'paths' when 'protocols' is 'grpc'",
        ),
        (
            {"name": "r", "protocols": ["grpc"], "paths": ["/a"], "strip_path": True},
            "strip_path",
            "cannot set 'strip_path' when 'protocols' is 'grpc' or 'grpcs'",
        ),
        (
            {"name": "r", "protocols": ["grpcs"], "paths": ["/a"], "methods": ["POST"]},
            "methods",
            "cannot set 'methods' when 'protocols' is 'grpc' or 'grpcs'",
        ),
        (
            {"name": "r", "protocols": ["tcp"]},
            "",
            "must set one of 'sources', 'destinations', 'snis' when 'protocols' is 'tcp' or 'tls'",
        ),
        (
            {"name": "r", "protocols": ["tcp"], "paths": ["/a"], "sources": [{"port": 1}]},
            "paths",
            "cannot set 'paths' when 'protocols' is 'tcp' or 'tls'",
        ),
        (
            {"name": "r", "paths": ["/a"], "sources": [{"ip": "10.0.0.1"}]},
            "sources",
            "cannot set 'sources' when 'protocols' is 'http' or 'https'",
        ),
        (
            {"name": "r", "paths": ["/a"], "protocols": ["http"], "snis": ["a.com"]},
            "snis",
            "'snis' can only be set when 'protocols' is 'grpcs', 'https', 'tls' or "
            "'tls_passthrough'",
        ),
        (
            {"name": "r", "paths": ["a"]},
            "paths[0]",
            "should start with: / (fixed path) or ~/ (regex path)",
        ),
        ({"name": "r", "paths": ["/a//b"]}, "paths[0]", "must not have empty segments"),
        (
            {"name": "r", "paths": ["/a/./b"]},
            "paths[0]",
            "non-normalized path, consider use '/a/b' instead",
        ),
        (
            {"name": "r", "paths": ["/%7Euser"]},
            "paths[0]",
            "non-normalized path, consider use '/~user' instead",
        ),
        ({"name": "r", "paths": ["/a%zz"]}, "paths[0]", "invalid url-encoded value: '%zz'"),
        ({"name": "r", "paths": ["/ok", 5]}, "paths[1]", "expected a string"),
        ({"name": "r", "paths": "/a"}, "paths", "expected an array"),
        (
            {"name": "r", "hosts": ["a.*.com"]},
            "hosts[0]",
            "invalid wildcard: must be placed at leftmost or rightmost label",
        ),
        (
            {"name": "r", "hosts": ["*.a.*"]},
            "hosts[0]",
            "invalid wildcard: must have at most one wildcard",
        ),
        ({"name": "r", "hosts": ["bad host"]}, "hosts[0]", "invalid hostname: bad host"),
        ({"name": "r", "hosts": ["a.com:99999"]}, "hosts[0]", "invalid port number"),
        ({"name": "r", "methods": ["get"]}, "methods[0]", "invalid value: get"),
        (
            {"name": "r", "headers": {"Host": ["a"]}},
            "headers.Host",
            "cannot contain 'host' header, which must be specified in the 'hosts' attribute",
        ),
        (
            {"name": "r", "headers": {"x y": ["a"]}},
            "headers.x y",
            "bad header name 'x y', allowed characters are A-Z, a-z, 0-9, '_', and '-'",
        ),
        ({"name": "r", "headers": {"x": "a"}}, "headers.x", "expected an array"),
        ({"name": "r", "headers": ["x"]}, "headers", "expected a map"),
        (
            {"name": "r", "paths": ["/a"], "https_redirect_status_code": 400},
            "https_redirect_status_code",
            "expected one of: 426, 301, 302, 307, 308",
        ),
        (
            {"name": "r", "paths": ["/a"], "path_handling": "v2"},
            "path_handling",
            "expected one of: v0, v1",
        ),
        ({"name": "r", "paths": ["/a"], "strip_path": "no"}, "strip_path", "expected a boolean"),
        (
            {"name": "r", "paths": ["/a"], "regex_priority": "1"},
            "regex_priority",
            "expected an integer",
        ),
        ({"name": "r", "paths": ["/a"], "protocols": []}, "protocols", "length must be at least 1"),
        (
            {"name": "r", "paths": ["/a"], "protocols": ["http", "ftp"]},
            "protocols[1]",
            "expected one of: http, https, tcp, tls, tls_passthrough, udp, grpc, grpcs, ws, wss",
        ),
        (
            {"name": "r", "paths": ["/a"], "protocols": ["http", "grpc"]},
            "protocols",
            "these sets are mutually exclusive: ('http', 'https'), ('grpc', 'grpcs')",
        ),
        ({"name": "r", "paths": ["/a"], "prefix": "/a"}, "prefix", "unknown field"),
        (
            {"name": "bad name", "paths": ["/a"]},
            "name",
            "invalid value 'bad name': the only accepted ascii characters are alphanumerics "
            "or ., -, _, and ~",
        ),
        ({"name": "r", "id": "123", "paths": ["/a"]}, "id", "expected a valid UUID"),
    ],
)
def test_route_validation(
    tmp_path: Path, route: dict[str, object], field: str, message: str
) -> None:
    err = route_error(tmp_path, route)
    assert (err.field, err.message) == (field, message)
    assert err.entity == "route 'r'" or route.get("name") != "r"


def test_invalid_regex_path(tmp_path: Path) -> None:
    err = route_error(tmp_path, {"name": "r", "paths": ["~/a/(unclosed"]})
    assert err.field == "paths[0]"
    assert err.message.startswith("invalid regex: '/a/(unclosed' (")


def test_invalid_header_regex(tmp_path: Path) -> None:
    err = route_error(tmp_path, {"name": "r", "headers": {"x-a": ["~*(["]}})
    assert err.field == "headers.x-a[0]" and err.message.startswith("invalid regex: '(['")


def test_grpc_route_strip_path_defaults_to_false(tmp_path: Path) -> None:
    route = load_route(tmp_path, {"name": "r", "protocols": ["grpc", "grpcs"], "paths": ["/p"]})
    assert route.strip_path is False


def test_stream_route_is_accepted(tmp_path: Path) -> None:
    route = load_route(
        tmp_path, {"name": "r", "protocols": ["tcp"], "destinations": [{"port": 5432}]}
    )
    assert route.protocols == ("tcp",)


def test_unnamed_entity_is_labelled_by_position(tmp_path: Path) -> None:
    err = error(
        tmp_path,
        """
        _format_version: "3.0"
        services:
          - name: s
            host: s.internal
            routes:
              - paths: [/ok]
              - paths: [nope]
        """,
    )
    assert err.entity == "route at services[0].routes[1]"
    assert err.field == "paths[0]"


def test_route_record_must_be_a_mapping(tmp_path: Path) -> None:
    err = error(tmp_path, '_format_version: "3.0"\nroutes: [5]\n')
    assert (err.entity, err.message) == ("route at routes[0]", "expected a record")


# --- services --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://a.internal", ("http", "a.internal", 80, None)),
        ("https://a.internal", ("https", "a.internal", 443, None)),
        ("https://a.internal:8443/p/q", ("https", "a.internal", 8443, "/p/q")),
        ("http://user:pw@a.internal:81/", ("http", "a.internal", 81, "/")),
    ],
)
def test_service_url_shorthand(tmp_path: Path, url: str, expected: tuple[object, ...]) -> None:
    config = load(
        tmp_path,
        f"""
        _format_version: "3.0"
        services: [{{name: s, url: "{url}"}}]
        """,
    )
    service = config.services[0]
    assert (service.protocol, service.host, service.port, service.path) == expected


def test_service_fields(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
        _format_version: "3.0"
        services:
          - {name: s, host: up.internal, port: 8080, path: /base, protocol: http, retries: 1,
             read_timeout: 1000, tls_verify: true, enabled: true, tags: [a]}
        """,
    )
    service = config.services[0]
    assert (service.host, service.port, service.path) == ("up.internal", 8080, "/base")


@pytest.mark.parametrize(
    ("service", "field", "message"),
    [
        ("{name: s}", "host", "required field missing"),
        ("{name: s, host: 'a b'}", "host", "invalid value: a b"),
        ("{name: s, host: a.com, port: 70000}", "port", "value should be between 0 and 65535"),
        ("{name: s, host: a.com, path: base}", "path", "should start with: /"),
        ("{name: s, host: a.com, path: /a//b}", "path", "must not have empty segments"),
        ("{name: s, host: a.com, protocol: grpc, path: /a}", "path", "value must be null"),
        (
            "{name: s, host: a.com, protocol: ftp}",
            "protocol",
            "expected one of: http, https, tcp, tls, tls_passthrough, udp, grpc, grpcs, ws, wss",
        ),
        ("{name: s, url: 'a.com/x'}", "url", "missing host in url"),
        (
            "{name: s, host: a.com, read_timeout: 0}",
            "read_timeout",
            "value should be between 1 and 2147483646",
        ),
        ("{name: s, host: a.com, colour: red}", "colour", "unknown field"),
    ],
)
def test_service_validation(tmp_path: Path, service: str, field: str, message: str) -> None:
    err = error(tmp_path, f'_format_version: "3.0"\nservices: [{service}]\n')
    assert (err.entity, err.field, err.message) == ("service 's'", field, message)


# --- references and uniqueness ---------------------------------------------------------------


def test_route_refers_to_missing_service(tmp_path: Path) -> None:
    err = error(
        tmp_path,
        """
        _format_version: "3.0"
        routes: [{name: x, service: nope, paths: [/]}]
        """,
    )
    assert str(err) == (
        f"{tmp_path / 'kong.yaml'}: route 'x', field 'service': "
        "refers to service 'nope' which does not exist"
    )


def test_route_refers_to_service_by_id_or_record(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
        _format_version: "3.0"
        services: [{name: s, id: 6e0e7e5e-3c55-4f4a-9a55-5c2b2ea0c0b1, host: s.internal}]
        routes:
          - {name: a, service: 6e0e7e5e-3c55-4f4a-9a55-5c2b2ea0c0b1, paths: [/a]}
          - {name: b, service: {name: s}, paths: [/b]}
          - {name: c, service: {id: 6e0e7e5e-3c55-4f4a-9a55-5c2b2ea0c0b1}, paths: [/c]}
        """,
    )
    assert all(r.service is config.services[0] for r in config.routes)


@pytest.mark.parametrize(
    ("plugin", "message", "field"),
    [
        ("{name: aws-lambda, route: nope}", "refers to route 'nope' which does not exist", "route"),
        (
            "{name: aws-lambda, service: nope}",
            "refers to service 'nope' which does not exist",
            "service",
        ),
        (
            "{name: aws-lambda, consumer: nope}",
            "refers to consumer 'nope' which does not exist",
            "consumer",
        ),
        ("{name: aws-lambda, config: {}, foo: 1}", "unknown field", "foo"),
        ("{config: {}}", "required field missing", "name"),
        ("{name: aws-lambda, enabled: 'no'}", "expected a boolean", "enabled"),
        (
            "{name: aws-lambda, protocols: [tcp]}",
            "expected one of: grpc, grpcs, http, https",
            "protocols[0]",
        ),
        ("{name: cors, config: [1]}", "expected a record", "config"),
    ],
)
def test_plugin_entity_errors(tmp_path: Path, plugin: str, message: str, field: str) -> None:
    err = error(tmp_path, f'_format_version: "3.0"\nplugins: [{plugin}]\n')
    assert (err.message, err.field) == (message, field)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "services: [{name: s, host: a.com}, {name: s, host: b.com}]",
            "service 's', field 'name': duplicate name 's'",
        ),
        (
            "routes: [{name: r, paths: [/a]}, {name: r, paths: [/b]}]",
            "route 'r', field 'name': duplicate name 'r'",
        ),
        (
            "consumers: [{username: u}, {username: u}]",
            "duplicate username: another consumer is named 'u'",
        ),
        (
            "consumers: [{username: a, id: 6e0e7e5e-3c55-4f4a-9a55-5c2b2ea0c0b2},"
            " {username: b, id: 6e0e7e5e-3c55-4f4a-9a55-5c2b2ea0c0b2}]",
            "consumer 'b', field 'id': duplicate id '6e0e7e5e-3c55-4f4a-9a55-5c2b2ea0c0b2'",
        ),
        (
            "routes: [{name: r, paths: [/a], plugins: [{name: aws-lambda}]}]\n"
            "plugins: [{name: aws-lambda, route: r}]",
            "the plugin 'aws-lambda' is configured twice for the same scope",
        ),
        (
            "plugins: [{name: aws-lambda, id: 6e0e7e5e-3c55-4f4a-9a55-5c2b2ea0c0b1},"
            " {name: cors, id: 6e0e7e5e-3c55-4f4a-9a55-5c2b2ea0c0b1}]",
            "duplicate id '6e0e7e5e-3c55-4f4a-9a55-5c2b2ea0c0b1'",
        ),
        (
            "consumers: [{tags: [a]}]",
            "at least one of these fields must be non-empty: 'custom_id', 'username'",
        ),
        (
            "services: [{name: s, host: a.com, routes: [{paths: [/], service: s}]}]",
            "must not be set on a route nested in service 's'",
        ),
    ],
)
def test_duplicates_and_consumers(tmp_path: Path, text: str, message: str) -> None:
    assert message in str(error(tmp_path, '_format_version: "3.0"\n' + text + "\n"))


# --- plugin precedence ---------------------------------------------------------------------


PRECEDENCE = """
_format_version: "3.0"
services:
  - name: s1
    host: s1.internal
    routes:
      - {name: r-route, paths: [/a], plugins: [{name: aws-lambda, config: {function_name: route}}]}
      - {name: r-service, paths: [/b]}
      - {name: r-combo, paths: [/c]}
      - name: r-disabled
        paths: [/d]
        plugins: [{name: aws-lambda, enabled: false, config: {function_name: disabled}}]
    plugins: [{name: aws-lambda, config: {function_name: service}}]
  - name: s2
    host: s2.internal
    routes: [{name: r-global, paths: [/e]}]
routes:
  - {name: r-serviceless, paths: [/f]}
plugins:
  - {name: aws-lambda, config: {function_name: global}}
  - {name: aws-lambda, route: r-combo, service: s1, config: {function_name: combo}}
  - {name: aws-lambda, route: r-global, service: s1, config: {function_name: mismatched}}
  - {name: aws-lambda, route: r-serviceless, consumer: bob, config: {function_name: consumer}}
consumers:
  - username: bob
"""


def test_plugin_precedence(tmp_path: Path) -> None:
    config = load(tmp_path, PRECEDENCE)
    chosen = {
        r.name: (r.lambda_plugin.function_name if r.lambda_plugin else None) for r in config.routes
    }
    assert chosen == {
        "r-route": "route",
        "r-service": "service",
        "r-combo": "combo",
        "r-disabled": "service",
        "r-global": "global",  # the route+service plugin names another service
        "r-serviceless": "global",  # without a consumer
    }
    serviceless = next(r for r in config.routes if r.name == "r-serviceless")
    chain = [
        (p.consumer and p.consumer.username, p.config.function_name)
        for p in serviceless.lambda_plugins
    ]
    assert chain == [("bob", "consumer"), (None, "global")]
    assert [p.lambda_config.function_name for p in config.plugins if p.lambda_config] == [
        "route",
        "service",
        "global",
        "combo",
        "mismatched",
        "consumer",
    ]


def test_consumer_group_scoped_plugin_is_not_applied(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
        _format_version: "3.0"
        routes: [{name: r, paths: [/]}]
        plugins: [{name: aws-lambda, consumer_group: gold, config: {function_name: gold}}]
        consumer_groups: [{name: gold}]
        """,
    )
    assert config.routes[0].lambda_plugin is None
    assert config.routes[0].lambda_plugins == ()
    assert config.warnings == (
        "lambda-route: plugin 'aws-lambda' (consumer_group 'gold') is not applied: "
        "consumer groups are not read",
    )


def test_service_port_zero_and_enabled(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
        _format_version: "3.0"
        services: [{name: s, host: a.internal, port: 0, enabled: false}]
        """,
    )
    assert config.services[0].port == 0 and config.services[0].enabled is False


def test_ignored_plugins_are_listed_once(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
        _format_version: "3.0"
        routes: [{name: r, paths: [/], plugins: [{name: cors}, {name: key-auth}]}]
        plugins:
          - {name: cors}
          - {name: file-log, enabled: false}
          - {name: prometheus, config: {per_consumer: true}}
        """,
    )
    assert config.ignored_plugins == ("cors", "prometheus")  # key-auth acts


# --- never anything but ConfigError ---------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "_format_version: '3.0'\nservices: [1, 2]\n",
        "_format_version: '3.0'\nservices: [{name: 5, host: a}]\n",
        "_format_version: '3.0'\nservices: [{host: a, routes: 5}]\n",
        "_format_version: '3.0'\nservices: [{host: a, plugins: {a: 1}}]\n",
        "_format_version: '3.0'\nroutes: [{paths: {a: 1}}]\n",
        "_format_version: '3.0'\nroutes: [{paths: [/], plugins: [7]}]\n",
        "_format_version: '3.0'\nroutes: [{paths: [/], service: 7}]\n",
        "_format_version: '3.0'\nroutes: [{paths: [/], headers: {1: [a]}}]\n",
        "_format_version: '3.0'\nplugins: [{name: aws-lambda, config: [1]}]\n",
        "_format_version: '3.0'\nplugins: [{name: [aws-lambda]}]\n",
        "_format_version: '3.0'\nplugins: [{name: aws-lambda, config: {1: 2}}]\n",
        "_format_version: '3.0'\nconsumers: [{username: 5}]\n",
        "_format_version: '3.0'\nconsumers: [[]]\n",
        "_format_version: '3.0'\nvaults: [{name: env, prefix: 5}]\n",
        "_format_version: '3.0'\nvaults: {}\n",
        "_format_version: '3.0'\n1: 2\n",
        "_format_version: [3.0]\n",
        "_format_version: '3.0'\nroutes: [{paths: [/], sources: [5]}]\n",
        "_format_version: '3.0'\nroutes: [{paths: [/], snis: [1.2.3.4]}]\n",
        "_format_version: '3.0'\nroutes: [{protocols: [tls], snis: ['a.com:8']}]\n",
        "a: &a [*a]\n",
        "[" * 5000,
        "\t- x",
    ],
)
def test_bad_input_only_raises_config_error(tmp_path: Path, text: str) -> None:
    with pytest.raises(ConfigError):
        load(tmp_path, text)


def test_error_str_names_file_entity_and_field(tmp_path: Path) -> None:
    err = plugin_error(tmp_path, {"unhandled_status": 42})
    assert str(err) == (
        f"{tmp_path / 'kong.json'}: plugin 'aws-lambda' (route 'r'), "
        "field 'config.unhandled_status': value should be between 100 and 999"
    )


def test_load_does_not_leak_environment(tmp_path: Path) -> None:
    """Resolution reads os.environ at load time, not at import time."""
    os.environ["LATE_DEFINED_KEY"] = "late"
    try:
        conf = plugin_config(
            tmp_path,
            {
                "aws_key": "{vault://env/late-defined-key}",
                "aws_secret": "{vault://env/late-defined-key}",
            },
        )
    finally:
        del os.environ["LATE_DEFINED_KEY"]
    assert conf.aws_key == "late"

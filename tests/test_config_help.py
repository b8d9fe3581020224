"""Config mistakes get help: unknown plugin names are errors, unknown fields get a
suggestion, and API Gateway events with a stripped path get a warning."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from lambdaroute.config import LambdaRouteConfig, load_config
from lambdaroute.errors import ConfigError


def load(tmp_path: Path, text: str) -> LambdaRouteConfig:
    path = tmp_path / "kong.yaml"
    path.write_text(textwrap.dedent(text))
    return load_config(str(path))


def error(tmp_path: Path, text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text)
    return info.value


def test_misspelled_plugin_is_an_error_with_a_suggestion(tmp_path: Path) -> None:
    err = error(
        tmp_path,
        """
        _format_version: "3.0"
        routes: [{name: r, paths: [/], plugins: [{name: aws-lamda, config: {function_name: f}}]}]
        """,
    )
    assert (err.entity, err.field) == ("plugin 'aws-lamda' (route 'r')", "name")
    assert err.message == (
        "unknown plugin 'aws-lamda': not one of Kong's bundled plugins; did you mean 'aws-lambda'?"
    )
    assert "Traceback" not in str(err) and str(err).startswith(str(tmp_path / "kong.yaml"))


def test_unknown_plugin_without_a_close_name_has_no_suggestion(tmp_path: Path) -> None:
    err = error(tmp_path, '_format_version: "3.0"\nplugins: [{name: my-custom-thing}]\n')
    assert err.message == "unknown plugin 'my-custom-thing': not one of Kong's bundled plugins"


def test_bundled_plugins_we_do_not_run_are_a_warning(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
        _format_version: "3.0"
        plugins: [{name: redirect}, {name: opentelemetry}, {name: rate-limiting}]
        """,
    )
    assert config.ignored_plugins == ("redirect", "opentelemetry", "rate-limiting")
    assert config.warnings == (
        "lambda-route: only aws-lambda, key-auth and basic-auth plugins act; ignoring: "
        "redirect, opentelemetry, rate-limiting",
    )


@pytest.mark.parametrize(
    ("text", "field", "message"),
    [
        (
            "routes: [{name: r, pahts: [/]}]",
            "pahts",
            "unknown field; did you mean 'paths'?",
        ),
        (
            "services: [{name: s, host: h, prot: 80}]",
            "prot",
            "unknown field; did you mean 'port'?",
        ),
        (
            "plugins: [{name: cors, confg: {}}]",
            "confg",
            "unknown field; did you mean 'config'?",
        ),
        (
            "consumers: [{username: u, custom_di: x}]",
            "custom_di",
            "unknown field; did you mean 'custom_id'?",
        ),
        (
            "plugins: [{name: key-auth, config: {key_name: [k]}}]",
            "config.key_name",
            "unknown field; did you mean 'key_names'?",
        ),
        (
            "plugins: [{name: aws-lambda, config: {function_nme: f}}]",
            "config.function_nme",
            "unknown field; did you mean 'function_name'?",
        ),
        ("servics: []", "servics", "unknown field; did you mean 'services'?"),
        ("xyzzy: []", "xyzzy", "unknown field"),
    ],
)
def test_unknown_fields_get_a_suggestion(
    tmp_path: Path, text: str, field: str, message: str
) -> None:
    err = error(tmp_path, '_format_version: "3.0"\n' + text + "\n")
    assert (err.field, err.message) == (field, message)


AWSGATEWAY_ROUTE = """
_format_version: "3.0"
routes:
  - name: {name}
    paths: [{path}]
    {strip}
    plugins: [{{name: aws-lambda, config: {{function_name: f, awsgateway_compatible: {gw}}}}}]
"""


@pytest.mark.parametrize(
    ("path", "strip", "gw", "warned"),
    [
        ("/api", "", "true", True),  # Kong's default strip_path: true
        ("~/items/(?<id>\\d+)$", "", "true", True),
        ("/api", "strip_path: false", "true", False),
        ("/", "", "true", False),  # nothing to strip
        ("/api", "", "false", False),  # Kong's own payload carries request_uri
    ],
)
def test_stripped_path_with_api_gateway_events_warns(
    tmp_path: Path, path: str, strip: str, gw: str, warned: bool
) -> None:
    text = AWSGATEWAY_ROUTE.format(name="api", path=f"'{path}'", strip=strip, gw=gw)
    warnings = load(tmp_path, text).warnings
    assert bool(warnings) == warned
    if warned:
        assert "route 'api'" in warnings[0] and "strip_path: false" in warnings[0]


def test_consumer_scoped_api_gateway_plugin_also_warns(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
        _format_version: "3.0"
        routes: [{name: r, paths: [/v1], plugins: [{name: key-auth}]}]
        consumers:
          - username: u
            plugins: [{name: aws-lambda, config: {function_name: f, awsgateway_compatible: true}}]
        """,
    )
    assert len(config.warnings) == 1 and "route 'r'" in config.warnings[0]

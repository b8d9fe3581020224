"""End to end: ``function_url_compatible`` with ``invoke_mode: BUFFERED`` through mitmdump
and the local Lambda server: the function gets the Function URL event (validated with
Powertools' ``LambdaFunctionUrlModel``) and its answer is read by Function URL rules."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from aws_lambda_powertools.utilities.parser.models import LambdaFunctionUrlModel

from tests.local_lambda_fixtures import start_local_lambda
from tests.mitmdump_process import Mitmdump, run_mitmdump

pytestmark = pytest.mark.e2e

FUNCTIONS = Path(__file__).parent / "e2e_functions" / "functions.yaml"
URL_ID = "q1w2e3r4t5y6u7i8o9p0a1s2d3f4g5h6"


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mitmdump]:
    tmp_path = tmp_path_factory.mktemp("function-url")
    with start_local_lambda(FUNCTIONS, access_key="fu-key", secret_key="fu-secret") as server:

        def route(name: str, function: str, **config: Any) -> dict[str, Any]:
            plugin = {
                "aws_region": "us-east-1",  # the local server's region
                "aws_key": "fu-key",
                "aws_secret": "fu-secret",
                "host": "127.0.0.1",
                "port": server.port,
                "disable_https": True,
                "function_name": function,
                "function_url_compatible": True,
                "function_url_id": URL_ID,
                **config,
            }
            return {
                "name": name,
                "paths": [f"/{name}"],
                "strip_path": False,
                "plugins": [{"name": "aws-lambda", "config": plugin}],
            }

        routes = [
            route("echo", "echo"),
            route(
                "iam",
                "echo",
                function_url_auth_type="AWS_IAM",
                awsgateway_account_id="111122223333",
                function_url_caller={"userArn": "arn:aws:iam::111122223333:user/dev"},
            ),
            route("proxy", "proxy"),
            route("fail", "fail"),
        ]
        config = tmp_path / "kong.yaml"
        config.write_text(yaml.safe_dump({"_format_version": "3.0", "routes": routes}))
        with run_mitmdump(config, tmp_path=tmp_path) as running:
            yield running


def test_the_event_is_a_function_url_event(proxy: Mitmdump) -> None:
    with httpx.Client(proxy=proxy.url, timeout=30) as http:
        answer = http.post("http://api.example.test/echo/a?b=1&b=2", content=b"hi")
    # echo returns the event without statusCode: Function URL rules make it a 200 JSON body
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/json"
    event = answer.json()
    model = LambdaFunctionUrlModel.model_validate(event)
    assert model.requestContext.domainName == f"{URL_ID}.lambda-url.us-east-1.on.aws"
    assert event["requestContext"]["accountId"] == "anonymous"
    assert "authorizer" not in event["requestContext"]
    assert event["rawPath"] == "/echo/a" and event["rawQueryString"] == "b=1&b=2"
    assert event["queryStringParameters"] == {"b": "1,2"}
    assert "pathParameters" not in event and "stageVariables" not in event


def test_aws_iam_carries_the_caller(proxy: Mitmdump) -> None:
    signed = (
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20250101/us-east-1/lambda/aws4_request"
    )
    with httpx.Client(proxy=proxy.url, timeout=30) as http:
        answer = http.get("http://api.example.test/iam", headers={"Authorization": signed})
    event = answer.json()
    LambdaFunctionUrlModel.model_validate(event)
    iam = event["requestContext"]["authorizer"]["iam"]
    assert iam["accessKey"] == "AKIAIOSFODNN7EXAMPLE"
    assert iam["userArn"] == "arn:aws:iam::111122223333:user/dev"
    assert event["requestContext"]["accountId"] == "111122223333"


def test_answers_follow_function_url_rules(proxy: Mitmdump) -> None:
    with httpx.Client(proxy=proxy.url, timeout=30) as http:
        answer = http.get("http://api.example.test/proxy")
        failed = http.get("http://api.example.test/fail")
    assert answer.status_code == 201
    assert answer.headers["x-from-function"] == "yes"
    assert "set-cookie" not in answer.headers  # multiValueHeaders is not a 2.0 field
    assert failed.status_code == 502
    assert failed.json()["errorMessage"] == "boom from the function"

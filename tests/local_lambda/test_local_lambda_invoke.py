"""The Invoke API of the local Lambda server, through botocore, against the example functions.

One server (a real subprocess on loopback) serves the whole module.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import boto3
import botocore
import pytest
from botocore.exceptions import ClientError

from tests.local_lambda_fixtures import (
    LocalLambdaServer,
    lambda_client,
    local_lambda,
    start_local_lambda,
)

pytestmark = pytest.mark.e2e
ARN = "arn:aws:lambda:us-east-1:123456789012:function"
_ = local_lambda  # the module-scoped server fixture


@pytest.fixture(scope="module")
def client(local_lambda: LocalLambdaServer) -> Any:
    return lambda_client(local_lambda.url)


def invoke(client: Any, **kwargs: Any) -> tuple[dict[str, Any], Any]:
    response = client.invoke(**kwargs)
    payload = response["Payload"].read()
    return response, json.loads(payload) if payload else None


def service_error(
    excinfo: pytest.ExceptionInfo[ClientError],
) -> tuple[int, str, str, dict[str, Any]]:
    response = excinfo.value.response
    return (
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"]["Code"],
        response["Error"]["Message"],
        response["ResponseMetadata"]["HTTPHeaders"],
    )


def test_request_response_returns_the_result_and_a_real_context(client: Any) -> None:
    response, body = invoke(client, FunctionName="echo", Payload=b'{"hello": "world"}')

    headers = response["ResponseMetadata"]["HTTPHeaders"]
    request_id = response["ResponseMetadata"]["RequestId"]
    assert response["StatusCode"] == 200
    assert response["ExecutedVersion"] == "$LATEST"
    assert "FunctionError" not in response
    assert headers["content-type"] == "application/json"
    assert body["event"] == {"hello": "world"}
    assert body["greeting"] == "hi"
    context = body["context"]
    assert context["function_name"] == "echo"
    assert context["function_version"] == "$LATEST"
    assert context["invoked_function_arn"] == f"{ARN}:echo"
    assert context["memory_limit_in_mb"] == "128"
    assert context["aws_request_id"] == request_id
    assert context["log_group_name"] == "/aws/lambda/echo"
    assert re.fullmatch(r"\d{4}/\d\d/\d\d/\[\$LATEST\][0-9a-f]{32}", context["log_stream_name"])
    assert 0 < context["remaining_time_in_millis"] <= 3000
    assert context["client_context"] is None
    assert re.fullmatch(
        r"Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=0", body["trace_id"]
    )


def test_boto3_client_gets_the_same_answer(local_lambda: LocalLambdaServer) -> None:
    client = boto3.session.Session(
        aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
    ).client("lambda", endpoint_url=local_lambda.url)

    response = client.invoke(FunctionName="echo", Qualifier="live", Payload=b'{"via": "boto3"}')

    assert response["StatusCode"] == 200
    assert response["ExecutedVersion"] == "1"
    assert json.loads(response["Payload"].read())["event"] == {"via": "boto3"}


def test_empty_payload_is_an_empty_event(client: Any) -> None:
    _, body = invoke(client, FunctionName="echo")
    assert body["event"] == {}


def test_event_answers_202_and_the_function_still_runs(
    client: Any, local_lambda: LocalLambdaServer
) -> None:
    response, body = invoke(client, FunctionName="echo", InvocationType="Event", Payload=b"{}")

    assert response["StatusCode"] == 202
    assert body is None
    request_id = response["ResponseMetadata"]["RequestId"]
    output = local_lambda.wait_for_output(f"END RequestId: {request_id}")
    assert f"START RequestId: {request_id} Version: $LATEST" in output


def test_dry_run_answers_204_without_running(client: Any, local_lambda: LocalLambdaServer) -> None:
    response, body = invoke(client, FunctionName="echo", InvocationType="DryRun")

    assert response["StatusCode"] == 204
    assert body is None
    assert response["ResponseMetadata"]["RequestId"] not in local_lambda.output()


def test_dry_run_still_checks_that_the_function_exists(client: Any) -> None:
    with pytest.raises(ClientError) as excinfo:
        client.invoke(FunctionName="missing", InvocationType="DryRun")
    assert service_error(excinfo)[:2] == (404, "ResourceNotFoundException")


def test_tail_returns_the_log_with_start_end_report(client: Any) -> None:
    response, _ = invoke(client, FunctionName="echo", LogType="Tail", Payload=b"{}")

    request_id = response["ResponseMetadata"]["RequestId"]
    lines = base64.b64decode(response["LogResult"]).decode().splitlines()
    start = lines.index(f"START RequestId: {request_id} Version: $LATEST")
    assert lines[start + 1] == "echo: hi from echo"
    assert lines[start + 2] == f"END RequestId: {request_id}"
    assert re.fullmatch(
        rf"REPORT RequestId: {request_id}\tDuration: \d+\.\d\d ms\tBilled Duration: \d+ ms\t"
        r"Memory Size: 128 MB\tMax Memory Used: \d+ MB\t(Init Duration: \d+\.\d\d ms\t)?",
        lines[start + 3],
    )


def test_without_tail_there_is_no_log_result(client: Any) -> None:
    response, _ = invoke(client, FunctionName="echo", Payload=b"{}")
    assert "LogResult" not in response


def test_tail_is_the_last_4_kb_of_the_log(client: Any) -> None:
    message = "x" * 10_000
    response, body = invoke(
        client, FunctionName="error", LogType="Tail", Payload=json.dumps({"message": message})
    )

    tail = base64.b64decode(response["LogResult"])
    assert body["errorMessage"] == message
    assert len(tail) == 4096
    assert tail.decode().rstrip("\n").split("\n")[-1].startswith("REPORT RequestId: ")


def test_client_context_reaches_the_handler(client: Any) -> None:
    client_context = {
        "client": {"installation_id": "install-1", "app_title": "Demo"},
        "custom": {"tenant": "acme"},
        "env": {"locale": "en_US"},
    }
    encoded = base64.b64encode(json.dumps(client_context).encode()).decode()

    _, body = invoke(client, FunctionName="echo", ClientContext=encoded, Payload=b"{}")

    assert body["context"]["client_context"] == {
        "custom": {"tenant": "acme"},
        "env": {"locale": "en_US"},
        "client": {"app_title": "Demo", "installation_id": "install-1"},
    }


def test_bad_client_context_is_rejected(client: Any) -> None:
    with pytest.raises(ClientError) as excinfo:
        client.invoke(FunctionName="echo", ClientContext="not base64 json!", Payload=b"{}")
    assert service_error(excinfo)[:2] == (400, "InvalidRequestContentException")


@pytest.mark.parametrize(
    ("function_name", "qualifier", "version", "invoked_arn"),
    [
        ("echo", "live", "1", f"{ARN}:echo:live"),
        ("echo", "beta", "2", f"{ARN}:echo:beta"),
        ("echo", "1", "1", f"{ARN}:echo:1"),
        ("echo", "$LATEST", "$LATEST", f"{ARN}:echo:$LATEST"),
        ("echo:live", None, "1", f"{ARN}:echo:live"),
        ("echo:live", "live", "1", f"{ARN}:echo:live"),
        (f"{ARN}:echo", None, "$LATEST", f"{ARN}:echo"),
        (f"{ARN}:echo:beta", None, "2", f"{ARN}:echo:beta"),
        (f"{ARN}:echo", "live", "1", f"{ARN}:echo:live"),
        ("123456789012:function:echo", None, "$LATEST", f"{ARN}:echo"),
        ("123456789012:function:echo:live", None, "1", f"{ARN}:echo:live"),
    ],
)
def test_names_arns_aliases_and_versions(
    client: Any, function_name: str, qualifier: str | None, version: str, invoked_arn: str
) -> None:
    extra = {"Qualifier": qualifier} if qualifier else {}
    response, body = invoke(client, FunctionName=function_name, Payload=b"{}", **extra)

    assert response["ExecutedVersion"] == version
    assert body["context"]["function_version"] == version
    assert body["context"]["invoked_function_arn"] == invoked_arn


@pytest.mark.parametrize(
    ("function_name", "qualifier", "message"),
    [
        ("nope", None, f"Function not found: {ARN}:nope"),
        ("echo", "nope", f"Function not found: {ARN}:echo:nope"),
        ("echo", "7", f"Function not found: {ARN}:echo:7"),
        (f"{ARN}:nope:live", None, f"Function not found: {ARN}:nope:live"),
    ],
)
def test_unknown_function_or_qualifier_is_404(
    client: Any, function_name: str, qualifier: str | None, message: str
) -> None:
    extra = {"Qualifier": qualifier} if qualifier else {}
    with pytest.raises(client.exceptions.ResourceNotFoundException) as excinfo:
        client.invoke(FunctionName=function_name, Payload=b"{}", **extra)

    status, code, text, headers = service_error(excinfo)
    assert (status, code, text) == (404, "ResourceNotFoundException", message)
    assert headers["x-amzn-errortype"] == "ResourceNotFoundException"
    assert excinfo.value.response["Type"] == "User"


def test_conflicting_qualifiers_are_rejected(client: Any) -> None:
    with pytest.raises(client.exceptions.InvalidParameterValueException) as excinfo:
        client.invoke(FunctionName="echo:live", Qualifier="beta", Payload=b"{}")
    assert service_error(excinfo)[0] == 400


def test_payload_that_is_not_json_is_400(client: Any) -> None:
    with pytest.raises(client.exceptions.InvalidRequestContentException) as excinfo:
        client.invoke(FunctionName="echo", Payload=b"{not json")

    status, _, message, _ = service_error(excinfo)
    assert status == 400
    assert message.startswith("Could not parse request body into json")


def test_payload_over_6_mb_is_413(client: Any) -> None:
    payload = b'"' + b"x" * (6 * 1024 * 1024 - 1) + b'"'
    with pytest.raises(client.exceptions.RequestTooLargeException) as excinfo:
        client.invoke(FunctionName="echo", Payload=payload)

    status, _, message, _ = service_error(excinfo)
    assert status == 413
    assert message == "Request must be smaller than 6291456 bytes for the InvokeFunction operation"


def test_payload_of_almost_6_mb_is_accepted(client: Any) -> None:
    payload = b'{"data": "' + b"x" * (6 * 1024 * 1024 - 100) + b'"}'
    response, body = invoke(client, FunctionName="proxy", Payload=payload)
    assert response["StatusCode"] == 200
    assert body["statusCode"] == 200


def test_large_result_comes_back_whole(client: Any) -> None:
    data = "y" * (4 * 1024 * 1024)
    _, body = invoke(client, FunctionName="echo", Payload=json.dumps({"data": data}))
    assert body["event"]["data"] == data


def test_result_over_6_mb_is_a_function_error(client: Any) -> None:
    payload = b'{"data": "' + b"x" * (6 * 1024 * 1024 - 100) + b'"}'
    response, body = invoke(client, FunctionName="echo", Payload=payload)

    assert response["FunctionError"] == "Unhandled"
    assert body == {
        "errorMessage": "Response payload size exceeded maximum allowed payload size "
        "(6291556 bytes).",
        "errorType": "Function.ResponseSizeTooLarge",
    }


def test_event_payload_over_1_mb_is_413(client: Any) -> None:
    payload = b'"' + b"x" * (1024 * 1024) + b'"'
    with pytest.raises(client.exceptions.RequestTooLargeException) as excinfo:
        client.invoke(FunctionName="echo", InvocationType="Event", Payload=payload)
    assert service_error(excinfo)[0] == 413


def test_handler_exception_is_an_unhandled_function_error(client: Any) -> None:
    response, body = invoke(
        client, FunctionName="error", LogType="Tail", Payload=b'{"message": "boom"}'
    )

    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "ValueError"
    assert body["errorMessage"] == "boom"
    assert body["requestId"] == response["ResponseMetadata"]["RequestId"]
    assert any("error.py" in frame and "in handler" in frame for frame in body["stackTrace"])
    log = base64.b64decode(response["LogResult"]).decode()
    assert "[ERROR]\t" in log and "about to fail for" in log
    assert "[ERROR] ValueError: boom" in log


def test_proxy_function_answers_in_proxy_integration_format(client: Any) -> None:
    event = {
        "httpMethod": "GET",
        "path": "/site/x",
        "resource": "/site/{slug}",
        "pathParameters": {"slug": "x"},
        "queryStringParameters": {"a": "1"},
    }
    _, body = invoke(client, FunctionName="proxy", Payload=json.dumps(event))

    assert body["statusCode"] == 200
    assert body["headers"]["X-Handled-By"] == "proxy"
    assert json.loads(body["body"]) == {
        "method": "GET",
        "path": "/site/x",
        "resource": "/site/{slug}",
        "pathParameters": {"slug": "x"},
        "query": {"a": "1"},
    }


def test_slow_function_within_its_timeout_succeeds(client: Any) -> None:
    response, body = invoke(client, FunctionName="slow", Payload=b"{}")
    assert "FunctionError" not in response
    assert body["ended"] - body["started"] >= 2


def test_timeout_ends_the_worker_and_answers_as_aws(client: Any) -> None:
    response, body = invoke(client, FunctionName="slow-timeout", LogType="Tail", Payload=b"{}")

    request_id = response["ResponseMetadata"]["RequestId"]
    assert response["FunctionError"] == "Unhandled"
    assert body == {
        "errorType": "Sandbox.Timedout",
        "errorMessage": f"RequestId: {request_id} Error: Task timed out after 1.00 seconds",
    }
    log = base64.b64decode(response["LogResult"]).decode()
    assert "sleeping 2 s" in log
    assert f"{request_id} Task timed out after 1.00 seconds" in log
    assert f"END RequestId: {request_id}" in log
    # the next invocation gets a fresh worker
    _, body = invoke(client, FunctionName="slow-timeout", Payload=b'{"seconds": 0}')
    assert "started" in body


def test_unknown_invocation_type_is_400(client: Any) -> None:
    with pytest.raises(ClientError) as excinfo:
        client.invoke(FunctionName="echo", InvocationType="Sometimes", Payload=b"{}")
    assert service_error(excinfo)[:2] == (400, "ValidationException")


# -- signatures ------------------------------------------------------------------------------


def test_unknown_access_key_is_403_unrecognized_client(local_lambda: LocalLambdaServer) -> None:
    client = lambda_client(local_lambda.url, access_key="AKIDWRONG")
    with pytest.raises(ClientError) as excinfo:
        client.invoke(FunctionName="echo", Payload=b"{}")

    status, code, message, headers = service_error(excinfo)
    assert (status, code) == (403, "UnrecognizedClientException")
    assert message == "The security token included in the request is invalid."
    assert headers["x-amzn-errortype"] == "UnrecognizedClientException"


def test_wrong_secret_is_403_invalid_signature(local_lambda: LocalLambdaServer) -> None:
    client = lambda_client(local_lambda.url, secret_key="not-the-secret")
    with pytest.raises(ClientError) as excinfo:
        client.invoke(FunctionName="echo", Payload=b"{}")

    status, code, message, _ = service_error(excinfo)
    assert (status, code) == (403, "InvalidSignatureException")
    assert message.startswith(
        "The request signature we calculated does not match the signature you provided."
    )
    assert "not-the-secret" not in message


def test_wrong_secret_is_rejected_for_an_arn_too(local_lambda: LocalLambdaServer) -> None:
    client = lambda_client(local_lambda.url, secret_key="not-the-secret")
    with pytest.raises(ClientError) as excinfo:
        client.invoke(FunctionName=f"{ARN}:echo:live", Payload=b"{}")
    assert service_error(excinfo)[:2] == (403, "InvalidSignatureException")


def test_stale_date_is_403_signature_expired(client: Any) -> None:
    ten_minutes_ago = datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=10)
    with (
        mock.patch("botocore.auth.get_current_datetime", return_value=ten_minutes_ago),
        pytest.raises(ClientError) as excinfo,
    ):
        client.invoke(FunctionName="echo", Payload=b"{}")

    status, code, message, _ = service_error(excinfo)
    assert (status, code) == (403, "InvalidSignatureException")
    assert re.fullmatch(
        r"Signature expired: \d{8}T\d{6}Z is now earlier than \d{8}T\d{6}Z "
        r"\(\d{8}T\d{6}Z - 5 min\.\)",
        message,
    )


def test_date_in_the_future_is_403_not_yet_current(client: Any) -> None:
    in_ten_minutes = datetime.now(UTC).replace(tzinfo=None) + timedelta(minutes=10)
    with (
        mock.patch("botocore.auth.get_current_datetime", return_value=in_ten_minutes),
        pytest.raises(ClientError) as excinfo,
    ):
        client.invoke(FunctionName="echo", Payload=b"{}")

    status, code, message, _ = service_error(excinfo)
    assert (status, code) == (403, "InvalidSignatureException")
    assert message.startswith("Signature not yet current: ")


def test_unsigned_request_is_403_missing_token(local_lambda: LocalLambdaServer) -> None:
    client = lambda_client(local_lambda.url, signature_version=botocore.UNSIGNED)
    with pytest.raises(ClientError) as excinfo:
        client.invoke(FunctionName="echo", Payload=b"{}")
    assert service_error(excinfo)[:2] == (403, "MissingAuthenticationTokenException")


def test_other_credentials_are_accepted_when_configured() -> None:
    with start_local_lambda(access_key="AKIDLOCAL", secret_key="s3cret") as server:
        good = lambda_client(server.url, access_key="AKIDLOCAL", secret_key="s3cret")
        assert good.invoke(FunctionName="echo", Payload=b"{}")["StatusCode"] == 200
        with pytest.raises(ClientError) as excinfo:
            lambda_client(server.url).invoke(FunctionName="echo", Payload=b"{}")
        assert service_error(excinfo)[:2] == (403, "UnrecognizedClientException")


def test_no_verify_accepts_any_signature_or_none() -> None:
    with start_local_lambda(verify=False) as server:
        for client in (
            lambda_client(server.url, access_key="anything", secret_key="whatever"),
            lambda_client(server.url, signature_version=botocore.UNSIGNED),
        ):
            response, body = invoke(client, FunctionName="echo", Payload=b'{"ok": true}')
            assert response["StatusCode"] == 200
            assert body["event"] == {"ok": True}

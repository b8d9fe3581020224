"""The server's SigV4 check reads X-Amz-Date strictly (ISO-8601 basic format, as AWS): a
botocore-signed request passes, every other shape of the date is IncompleteSignature."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from multidict import CIMultiDict

from local_lambda.errors import ServiceError
from local_lambda.sigv4 import SignatureVerifier

URL = "http://127.0.0.1:9001/2015-03-31/functions/echo/invocations"
BODY = b'{"a": 1}'


def signed_headers() -> CIMultiDict[str]:
    request = AWSRequest("POST", URL, data=BODY)
    SigV4Auth(Credentials("test", "test"), "lambda", "us-east-1").add_auth(request)
    return CIMultiDict([("Host", "127.0.0.1:9001"), *request.headers.items()])


def verify(headers: CIMultiDict[str]) -> None:
    SignatureVerifier("test", "test").verify(
        "POST", "/2015-03-31/functions/echo/invocations", headers, BODY
    )


def test_a_botocore_signature_passes() -> None:
    headers = signed_headers()
    verify(headers)
    stamp = headers["X-Amz-Date"]
    signed_at = datetime(
        int(stamp[:4]), int(stamp[4:6]), int(stamp[6:8]), int(stamp[9:11]), tzinfo=UTC
    )
    assert abs((datetime.now(UTC) - signed_at).total_seconds()) < 3600


@pytest.mark.parametrize(
    "bad",
    [
        "2026-12-01T04:23:00Z",
        "20261201T042300",
        "20261201 042300Z",
        "2026121T042300Z",
        "x",
        "\uff12\uff10\uff12\uff16\uff11\uff12\uff10\uff11T042300Z",  # full-width digits
    ],
)
def test_a_date_in_another_format_is_incomplete_signature(bad: str) -> None:
    headers = signed_headers()
    headers["X-Amz-Date"] = bad
    with pytest.raises(ServiceError) as caught:
        verify(headers)
    assert caught.value.error_type == "IncompleteSignatureException"
    assert "ISO-8601 'basic format'" in str(caught.value.body)


def test_a_date_from_another_day_than_the_scope_is_rejected() -> None:
    headers = signed_headers()
    stamp = headers["X-Amz-Date"]
    headers["X-Amz-Date"] = "20200101" + stamp[8:]
    with pytest.raises(ServiceError) as caught:
        verify(headers)
    assert caught.value.error_type == "InvalidSignatureException"
    assert "Date in Credential scope does not match" in str(caught.value.body)

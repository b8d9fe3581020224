"""Redaction of AWS error text, and the plain-HTTP hint on a TLS failure."""

from __future__ import annotations

import logging
import ssl
import sys

import pytest

from lambdaroute.aws_errors import _looks_like_plain_http
from lambdaroute.redaction import MASK, RedactingFilter, redact
from local_lambda.sigv4 import SIGNATURE_MISMATCH

TOKEN = "IQoJb3JpZ2luX2VjEJr" + "x" * 300
SIGNATURE = "a" * 64
AWS_INVALID_SIGNATURE = (
    f"{SIGNATURE_MISMATCH}\n\nThe Canonical String for this request should have been\n"
    "'POST\n/2015-03-31/functions/f/invocations\n\nhost:lambda.us-east-1.amazonaws.com\n"
    f"x-amz-date:20240101T000000Z\nx-amz-security-token:{TOKEN}\n\n"
    "host;x-amz-date;x-amz-security-token\nabc'\n\nThe String-to-Sign should have been\n"
    "'AWS4-HMAC-SHA256\n20240101T000000Z\n20240101/us-east-1/lambda/aws4_request\ndef'\n"
)


@pytest.mark.parametrize(
    "message",
    [
        SIGNATURE_MISMATCH,
        "The security token included in the request is invalid.",
        "Credential should be scoped to correct service: 'lambda'. ",
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
        "from HTTP: '20240101' != '20240102', from '20240102T000000Z'.",
        "Function not found: arn:aws:lambda:us-east-1:123456789012:function:f",
        "Rate Exceeded.",
    ],
)
def test_the_local_servers_real_messages_are_kept(message: str) -> None:
    assert redact(message) == message


def test_canonical_request_dumps_are_cut_and_the_sentence_kept() -> None:
    text = redact(AWS_INVALID_SIGNATURE)
    assert text.startswith(SIGNATURE_MISMATCH)
    assert TOKEN[:20] not in text and "x-amz-security-token:" not in text
    assert "should have been" in text and MASK in text


@pytest.mark.parametrize(
    "echo",
    [
        f"Authorization: AWS4-HMAC-SHA256 Credential=AKIAABCDEFGHIJKLMNOP/20240101/us-east-1/"
        f"lambda/aws4_request, SignedHeaders=host;x-amz-date, Signature={SIGNATURE}",
        f"X-Amz-Security-Token={TOKEN}",
        f"x-amz-security-token: {TOKEN}",
        f'{{"SessionToken": "{TOKEN}"}}',
        "key ASIAABCDEFGHIJKLMNOP in use",
    ],
)
def test_echoed_signing_material_is_masked(echo: str) -> None:
    text = redact(f"InvalidSignatureException: bad ({echo})")
    assert text.startswith("InvalidSignatureException: bad (")
    for secret in (TOKEN[:20], SIGNATURE, "AKIAABCDEFGHIJKLMNOP", "ASIAABCDEFGHIJKLMNOP"):
        assert secret not in text


def test_known_secrets_are_masked_anywhere() -> None:
    assert redact("echo s3cr3t-value here", ["s3cr3t-value", None, ""]) == "echo *** here"


def test_botocore_refresh_failures_become_one_redacted_line() -> None:
    try:
        raise RuntimeError(AWS_INVALID_SIGNATURE)
    except RuntimeError:
        record = logging.getLogger("botocore.credentials").makeRecord(
            "botocore.credentials",
            logging.WARNING,
            __file__,
            1,
            "refresh failed %s",
            ("x",),
            exc_info=sys.exc_info(),
        )
    assert RedactingFilter().filter(record)
    assert record.exc_info is None
    line = record.getMessage()
    assert line.startswith("refresh failed x (RuntimeError: The request signature")
    assert TOKEN[:20] not in line and "\n" not in line


def test_plain_http_hint_only_for_hosts_that_are_not_aws() -> None:
    error = ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)")
    assert _looks_like_plain_http(error, "127.0.0.1")
    assert _looks_like_plain_http(error, "lambda.internal.example")
    assert not _looks_like_plain_http(error, "lambda.us-east-1.amazonaws.com")
    other = ssl.SSLError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    assert not _looks_like_plain_http(other, "127.0.0.1")

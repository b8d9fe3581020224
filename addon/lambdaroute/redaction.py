"""Secrets out of text that came from AWS (or whatever answers in its place).

AWS error messages may quote the request: a real ``InvalidSignatureException`` carries the
canonical request and the string to sign, and the canonical request holds the
``x-amz-security-token``; an endpoint (a proxy, a fake, a hostile server) may echo the
``Authorization`` header. Such text is shown to HTTP clients and written to the log and the
flow, so every message taken from an answer goes through ``redact`` first: the error type
and the useful sentence stay, credentials, signatures, tokens and request dumps go.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

MASK = "***"

#: AWS's dumps: "The Canonical String for this request should have been\n'...'" and
#: "The String-to-Sign should have been\n'...'", quoted or running to the end of the text
_DUMP = re.compile(
    r"(The (?:Canonical String|String-to-Sign)[^'\n]*?should have been)\s*(?:'[^']*'|.*)",
    re.IGNORECASE | re.DOTALL,
)
#: key=value and key: value forms of the signing parameters, headers and query parameters
_PARAMETER = re.compile(
    r"((?:Credential|Signature|X-Amz-Credential|X-Amz-Signature|X-Amz-Security-Token"
    r"|Security-?Token|SessionToken|aws_session_token|aws_secret_access_key"
    r"|SecretAccessKey|Authorization)\"?\s*[=:]\s*\"?)"
    r"([^\s,;&\"']+)",
    re.IGNORECASE,
)
#: access key ids (AKIA long-term, ASIA temporary, and the other AWS id prefixes)
_ACCESS_KEY_ID = re.compile(r"\b(?:AKIA|ASIA|AROA|AIDA|ABIA|ACCA)[A-Z0-9]{12,}\b")
#: long opaque runs (session tokens are hundreds of base64 characters)
_LONG_TOKEN = re.compile(r"[A-Za-z0-9+/=_-]{120,}")


def redact(text: str, known_secrets: Iterable[str | None] = ()) -> str:
    """``text`` with signing material masked; ``known_secrets`` (the credentials in use)
    are masked wherever they appear, whatever surrounds them."""
    for secret in known_secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, MASK)
    text = _DUMP.sub(rf"\1 {MASK}", text)
    text = _PARAMETER.sub(rf"\1{MASK}", text)
    text = _ACCESS_KEY_ID.sub(MASK, text)
    return _LONG_TOKEN.sub(MASK, text)


class RedactingFilter(logging.Filter):
    """For botocore's loggers: a failed credential refresh is logged there with the whole
    traceback, whose last line quotes AWS's error (an STS canonical-request dump). Keep one
    redacted line: the message and the error, no traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            text = f"{text} ({type(error).__name__}: {' '.join(str(error).split())})"
        record.msg = redact(text)
        record.args = ()
        record.exc_info = None
        record.exc_text = None
        return True

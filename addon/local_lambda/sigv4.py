"""SigV4 verification of Invoke requests, with AWS's 403 errors.

The canonical request is rebuilt from what arrived on the wire: the canonical URI is the
*raw* path quoted once more (botocore percent-encodes an ARN's ``:`` as ``%3A`` in the
URL and signs ``%253A``), and the canonical query re-encodes each decoded key and value.
Unlike AWS, the rejection messages do not echo the canonical request: it can hold a
session token.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import quote, unquote

from multidict import MultiMapping

from local_lambda.errors import (
    incomplete_signature,
    invalid_signature,
    missing_authentication_token,
    unrecognized_client,
)

ALGORITHM = "AWS4-HMAC-SHA256"
AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
_AMZ_DATE = re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})T([0-9]{2})([0-9]{2})([0-9]{2})Z")
MAX_CLOCK_SKEW = timedelta(minutes=5)
SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. "
    "Consult the service documentation for details."
)
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


@dataclass(frozen=True, slots=True)
class Authorization:
    """The parts of an ``Authorization: AWS4-HMAC-SHA256 ...`` header."""

    access_key: str
    scope_date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str

    @property
    def scope(self) -> str:
        return f"{self.scope_date}/{self.region}/{self.service}/aws4_request"


@dataclass(slots=True)
class SignatureVerifier:
    """Accepts requests signed with one access key and secret for ``service``."""

    access_key: str
    secret_key: str = field(repr=False)
    service: str = "lambda"
    region: str = "us-east-1"
    _signing_keys: dict[tuple[str, str], bytes] = field(default_factory=dict, repr=False)

    def verify(
        self,
        method: str,
        raw_path: str,
        headers: MultiMapping[str],
        body: bytes,
        now: datetime | None = None,
    ) -> None:
        """Raise the ServiceError AWS would answer, or return if the signature is good."""
        header = headers.get("Authorization")
        if not header:
            raise missing_authentication_token()
        auth = parse_authorization(header)
        if auth.access_key != self.access_key:
            raise unrecognized_client()
        if auth.region != self.region:
            raise invalid_signature(
                f"Credential should be scoped to a valid region, not '{auth.region}'. "
            )
        if auth.service != self.service:
            raise invalid_signature(
                f"Credential should be scoped to correct service: '{self.service}'. "
            )
        amz_date, stamp = _request_time(headers)
        if stamp[:8] != auth.scope_date:
            raise invalid_signature(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
                f"from HTTP: '{auth.scope_date}' != '{amz_date:%Y%m%d}', from "
                f"'{amz_date:{AMZ_DATE_FORMAT}}'."
            )
        _check_clock_skew(amz_date, now or datetime.now(UTC))
        if "host" not in auth.signed_headers:
            raise incomplete_signature(
                "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
            )
        payload_hash = _payload_hash(headers, body)
        canonical = canonical_request(method, raw_path, headers, auth.signed_headers, payload_hash)
        string_to_sign = "\n".join(
            (
                ALGORITHM,
                stamp,
                auth.scope,
                hashlib.sha256(canonical.encode()).hexdigest(),
            )
        )
        key = self._signing_key(auth.scope_date, auth.region)
        expected = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, auth.signature):
            raise invalid_signature(SIGNATURE_MISMATCH)

    def _signing_key(self, date: str, region: str) -> bytes:
        cached = self._signing_keys.get((date, region))
        if cached is None:
            if len(self._signing_keys) > 64:
                self._signing_keys.clear()
            cached = b"AWS4" + self.secret_key.encode()
            for part in (date, region, self.service, "aws4_request"):
                cached = hmac.new(cached, part.encode(), hashlib.sha256).digest()
            self._signing_keys[(date, region)] = cached
        return cached


def parse_authorization(header: str) -> Authorization:
    algorithm, _, rest = header.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise incomplete_signature(f"Unsupported AWS 'algorithm': '{algorithm}'")
    params: dict[str, str] = {}
    for part in rest.split(","):
        name, _, value = part.strip().partition("=")
        params[name] = value
    missing = [
        name for name in ("Credential", "SignedHeaders", "Signature") if not params.get(name)
    ]
    if missing:
        raise incomplete_signature(
            " ".join(f"Authorization header requires '{name}' parameter." for name in missing)
        )
    credential = params["Credential"].split("/")
    if len(credential) != 5 or credential[4] != "aws4_request":
        raise incomplete_signature(
            "Credential must have exactly 5 slash-delimited elements, e.g. "
            "keyid/date/region/service/term"
        )
    return Authorization(
        access_key=credential[0],
        scope_date=credential[1],
        region=credential[2],
        service=credential[3],
        signed_headers=tuple(params["SignedHeaders"].split(";")),
        signature=params["Signature"],
    )


def _request_time(headers: MultiMapping[str]) -> tuple[datetime, str]:
    """When the request was signed, and that moment in AMZ_DATE_FORMAT (the X-Amz-Date
    header itself: strptime and strftime cost some 20 and 15 us per request)."""
    amz_date = headers.get("X-Amz-Date")
    try:
        if amz_date:
            match = _AMZ_DATE.fullmatch(amz_date)
            if match is None:
                raise ValueError(amz_date)
            year, month, day, hour, minute, second = (int(part) for part in match.groups())
            return datetime(year, month, day, hour, minute, second, tzinfo=UTC), amz_date
        http_date = headers.get("Date")
        if http_date:
            moment = parsedate_to_datetime(http_date).astimezone(UTC)
            return moment, moment.strftime(AMZ_DATE_FORMAT)
    except (ValueError, TypeError):
        raise incomplete_signature(
            f"Date must be in ISO-8601 'basic format'. Got '{amz_date}'."
        ) from None
    raise incomplete_signature(
        "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
    )


def _check_clock_skew(signed_at: datetime, now: datetime) -> None:
    def stamp(moment: datetime) -> str:
        return moment.strftime(AMZ_DATE_FORMAT)

    if signed_at < now - MAX_CLOCK_SKEW:
        raise invalid_signature(
            f"Signature expired: {stamp(signed_at)} is now earlier than "
            f"{stamp(now - MAX_CLOCK_SKEW)} ({stamp(now)} - 5 min.)"
        )
    if signed_at > now + MAX_CLOCK_SKEW:
        raise invalid_signature(
            f"Signature not yet current: {stamp(signed_at)} is still later than "
            f"{stamp(now + MAX_CLOCK_SKEW)} ({stamp(now)} + 5 min.)"
        )


def _payload_hash(headers: MultiMapping[str], body: bytes) -> str:
    actual = hashlib.sha256(body).hexdigest() if body else _EMPTY_SHA256
    declared = headers.get("X-Amz-Content-SHA256")
    if declared is None or declared == "UNSIGNED-PAYLOAD":
        return declared or actual
    if declared != actual:
        raise invalid_signature(
            "The provided 'x-amz-content-sha256' header does not match what was computed."
        )
    return declared


def canonical_request(
    method: str,
    raw_path: str,
    headers: MultiMapping[str],
    signed_headers: tuple[str, ...],
    payload_hash: str,
) -> str:
    path, _, query = raw_path.partition("?")
    canonical_headers = "".join(
        f"{name}:{','.join(' '.join(value.split()) for value in headers.getall(name, []))}\n"
        for name in signed_headers
    )
    return "\n".join(
        (
            method.upper(),
            quote(path or "/", safe="/~"),
            canonical_query(query),
            canonical_headers,
            ";".join(signed_headers),
            payload_hash,
        )
    )


def canonical_query(query: str) -> str:
    if not query:
        return ""
    pairs = []
    for item in query.split("&"):
        key, _, value = item.partition("=")
        pairs.append((quote(unquote(key), safe="-_.~"), quote(unquote(value), safe="-_.~")))
    return "&".join(f"{key}={value}" for key, value in sorted(pairs))

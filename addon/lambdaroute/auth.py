"""Kong's ``key-auth`` and ``basic-auth`` plugins (3.10: ``kong/plugins/key-auth/handler.lua``,
``kong/plugins/basic-auth/access.lua``): who the consumer of a request is, or Kong's 401.

Runs in ``requestheaders`` with credentials indexed at load time: dictionary lookups only,
no I/O. The plugins of a route run in Kong's order (key-auth, priority 1250, then
basic-auth, 1100). Without ``anonymous`` a failure answers 401 at once ("logical AND");
with it the request goes on as the anonymous consumer, and a later auth plugin with
``anonymous`` set skips when an earlier one found a credential ("logical OR").
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import os
import re
from dataclasses import dataclass

from mitmproxy import http

from .config_types import BasicAuthConfig, Consumer, Credential, Credentials, KeyAuthConfig, Route

_BASIC = re.compile(r"\s*[Bb]asic\s*(.+)")
_USER_PASSWORD = re.compile(r"([^:]+):(.*)", re.S)


@dataclass(frozen=True, slots=True)
class Access:
    """The outcome: the consumer (None: no auth plugin identified one), or ``response``
    (Kong's 401) when the request must not go on."""

    consumer: Consumer | None = None
    response: http.Response | None = None


_NO_AUTH = Access()


class _Rejected(Exception):
    def __init__(self, message: str, www_authenticate: str) -> None:
        super().__init__(message)
        self.message = message
        self.www_authenticate = www_authenticate


def authorize(
    route: Route, credentials: Credentials, request: http.Request, protocol: str
) -> Access:
    """Run the route's auth plugins on ``request`` (which ``hide_credentials`` edits)."""
    if not route.auth_plugins:
        return _NO_AUTH
    consumer: Consumer | None = None
    credential: Credential | None = None
    for plugin in route.auth_plugins:
        if protocol not in plugin.protocols:
            continue
        config = plugin.config
        assert isinstance(config, KeyAuthConfig | BasicAuthConfig)
        if (
            isinstance(config, KeyAuthConfig)
            and not config.run_on_preflight
            and request.method == "OPTIONS"
        ):
            continue
        if config.anonymous is not None and credential is not None:
            continue
        try:
            if isinstance(config, KeyAuthConfig):
                credential = _key_auth(config, credentials, request)
            else:
                credential = _basic_auth(config, credentials, request)
            consumer = credential.consumer
            _set_consumer_headers(request, consumer, credential)
        except _Rejected as rejected:
            if config.anonymous is None:
                return Access(response=_unauthorized(rejected))
            consumer = config.anonymous
            _set_consumer_headers(request, consumer, None)
    return Access(consumer=consumer)


def _key_auth(config: KeyAuthConfig, credentials: Credentials, request: http.Request) -> Credential:
    realm = f'Key realm="{config.realm}"' if config.realm is not None else "Key"
    key: str | None = None
    for name in config.key_names:
        values: list[str] = []
        header_name = name.replace("_", "-")  # nginx looks headers up with "_" as "-"
        if config.key_in_header:
            values = request.headers.get_all(name) or request.headers.get_all(header_name)
        if not values and config.key_in_query:
            values = request.query.get_all(name)
        if len(values) > 1:
            raise _Rejected("Duplicate API key found", realm)
        if values:
            key = values[0]
            if config.hide_credentials:
                if name in request.query:
                    del request.query[name]
                request.headers.pop(name, None)
                request.headers.pop(header_name, None)
            break
    if not key:
        raise _Rejected("No API key found in request", realm)
    credential = credentials.keys.get(key)
    if credential is None:
        raise _Rejected("Unauthorized", realm)
    return credential


def _basic_auth(
    config: BasicAuthConfig, credentials: Credentials, request: http.Request
) -> Credential:
    realm = f'Basic realm="{config.realm}"'
    authorization = request.headers.get("authorization")
    proxy_authorization = request.headers.get("proxy-authorization")
    if authorization is None and proxy_authorization is None:
        raise _Rejected("Unauthorized", realm)
    credential, password = None, None
    user, password = _user_password(config, request, "proxy-authorization", proxy_authorization)
    if user is not None:
        credential = credentials.basic.get(user)
    if credential is None:
        user, password = _user_password(config, request, "authorization", authorization)
        if user is None:
            raise _Rejected("Unauthorized", realm)
        credential = credentials.basic.get(user)
    if (
        credential is None
        or credential.password is None
        or password is None
        or not hmac.compare_digest(credential.password.encode(), password.encode())
    ):
        raise _Rejected("Unauthorized", realm)
    return credential


def _user_password(
    config: BasicAuthConfig, request: http.Request, header: str, value: str | None
) -> tuple[str | None, str | None]:
    user = password = None
    if value is not None:
        found = _BASIC.search(value)
        if found:
            try:
                decoded = base64.b64decode(found.group(1).strip(), validate=True)
            except (binascii.Error, ValueError):
                decoded = None
            if decoded is not None:
                parts = _USER_PASSWORD.search(decoded.decode("utf-8", "surrogateescape"))
                if parts:
                    user, password = parts.group(1), parts.group(2)
    if config.hide_credentials:
        request.headers.pop(header, None)
    return user, password


def _set_consumer_headers(
    request: http.Request, consumer: Consumer, credential: Credential | None
) -> None:
    """The headers Kong's auth plugins give the upstream (here: the Lambda event)."""
    for name, value in (
        ("X-Consumer-ID", consumer.id),
        ("X-Consumer-Custom-ID", consumer.custom_id),
        ("X-Consumer-Username", consumer.username),
        ("X-Credential-Identifier", credential.id if credential else None),
        ("X-Anonymous-Consumer", None if credential else "true"),
    ):
        if value is None:
            request.headers.pop(name, None)
        else:
            request.headers[name] = value


def _unauthorized(rejected: _Rejected) -> http.Response:
    """``kong.response.error(401, message, {WWW-Authenticate = ...})``: Kong 3.10's JSON
    error template (message and request id; other Accept types are not negotiated)."""
    document = {"message": rejected.message, "request_id": os.urandom(16).hex()}
    return http.Response.make(
        401,
        json.dumps(document, separators=(",", ":")).encode(),
        {
            "Content-Type": "application/json; charset=utf-8",
            "WWW-Authenticate": rejected.www_authenticate,
        },
    )

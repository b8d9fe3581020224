"""Lambda Function URL events and responses (``function_url_compatible``).

A Function URL sends the API Gateway payload 2.0 with its own ``requestContext``
(AWS's "Invoking Lambda function URLs" page, and events captured from AWS):

- ``routeKey`` and ``requestContext.routeKey`` / ``stage`` are ``$default``; there are no
  ``pathParameters`` or ``stageVariables``;
- ``apiId`` and ``domainPrefix`` are the URL id, ``domainName`` is
  ``<url-id>.lambda-url.<region>.on.aws``;
- auth type ``NONE``: ``accountId`` is ``anonymous`` and there is no ``authorizer``;
  ``AWS_IAM``: ``accountId`` is the function owner's and ``authorizer.iam`` describes the
  caller (its ``accessKey`` read from the client's SigV4 ``Authorization`` header when
  there is one: the proxy cannot verify that signature, it only reports it).

Everything else (headers, cookies, query, body and base64 rules, times) is the v2 event
``apigateway`` builds, and the response rules are the v2 reader's in ``proxy_integration``
(the inference for a value without ``statusCode``, one ``Set-Cookie`` per cookie).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from .apigateway import v2_event
from .config import LambdaPluginConfig
from .proxy_integration import ProxyResponse, parse_v2
from .snapshot import IncomingRequest

AuthType = Literal["NONE", "AWS_IAM"]

_SIGV4_CREDENTIAL = re.compile(r"AWS4-HMAC-SHA256\s+Credential=([A-Z0-9]{16,128})/")


@dataclass(frozen=True, slots=True)
class IamCaller:
    """The identity ``authorizer.iam`` reports for ``AWS_IAM`` (a proxy cannot know it)."""

    access_key: str | None = None
    account_id: str | None = None
    caller_id: str | None = None
    user_arn: str | None = None
    user_id: str | None = None
    principal_org_id: str | None = None


@dataclass(frozen=True, slots=True)
class FunctionUrlSettings:
    """What a Function URL event carries that the request does not say."""

    url_id: str
    region: str
    account_id: str = "123456789012"
    auth_type: AuthType = "NONE"
    caller: IamCaller = field(default_factory=IamCaller)

    @property
    def domain_name(self) -> str:
        return f"{self.url_id}.lambda-url.{self.region}.on.aws"

    @classmethod
    def of(cls, plugin: LambdaPluginConfig, region: str) -> FunctionUrlSettings:
        """From the plugin's ``function_url_*`` fields (without ``function_url_id``, the
        URL id is ``awsgateway_api_id``; the owner is ``awsgateway_account_id``)."""
        caller = plugin.function_url_caller or {}
        return cls(
            url_id=plugin.function_url_id or plugin.awsgateway_api_id,
            region=region,
            account_id=plugin.awsgateway_account_id,
            auth_type=plugin.function_url_auth_type,
            caller=IamCaller(
                access_key=caller.get("accessKey"),
                account_id=caller.get("accountId"),
                caller_id=caller.get("callerId"),
                user_arn=caller.get("userArn"),
                user_id=caller.get("userId"),
                principal_org_id=caller.get("principalOrgId"),
            ),
        )


def function_url_event(
    plugin: LambdaPluginConfig, request: IncomingRequest, settings: FunctionUrlSettings
) -> dict[str, Any]:
    """The Function URL event for ``request``."""
    if plugin.awsgateway_stage != "$default" or plugin.awsgateway_stage_variables:
        # a Function URL has no stage: no prefix on rawPath, no stageVariables
        plugin = dataclasses.replace(
            plugin, awsgateway_stage="$default", awsgateway_stage_variables=None
        )
    event = v2_event(plugin, request)
    event["routeKey"] = "$default"
    event.pop("pathParameters", None)
    event.pop("stageVariables", None)
    context = event["requestContext"]
    context["apiId"] = settings.url_id
    context["domainName"] = settings.domain_name
    context["domainPrefix"] = settings.url_id
    context["routeKey"] = "$default"
    context["stage"] = "$default"
    if settings.auth_type == "AWS_IAM":
        context["accountId"] = settings.account_id
        context["authorizer"] = {"iam": _iam(settings.caller, request)}
    else:
        context["accountId"] = "anonymous"
    return event


def parse_function_url_response(payload: bytes) -> ProxyResponse:
    """A buffered function's answer under Function URL rules: the 2.0 rules.

    Raises BadLambdaResponseError as the v2 reader does."""
    return parse_v2(payload)


def _iam(caller: IamCaller, request: IncomingRequest) -> dict[str, Any]:
    access_key = caller.access_key
    for name, value in request.headers:
        if name.lower() == "authorization":
            match = _SIGV4_CREDENTIAL.match(value)
            if match:
                access_key = match[1]
            break
    return {
        "accessKey": access_key,
        "accountId": caller.account_id,
        "callerId": caller.caller_id,
        "cognitoIdentity": None,
        "principalOrgId": caller.principal_org_id,
        "userArn": caller.user_arn,
        "userId": caller.user_id,
    }

"""Every web app handler first validates its event with Powertools' event models (the
pydantic models of aws_lambda_powertools.utilities.parser), so that an event the proxy
builds wrong fails the request, in-process and end to end alike."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.parser.models import (
    AlbModel,
    APIGatewayProxyEventModel,
    APIGatewayProxyEventV2Model,
)

Handler = Callable[[dict[str, Any], Any], Any]


def validate(event: dict[str, Any]) -> None:
    """Raise pydantic's ValidationError (or AssertionError) if ``event`` is not a valid
    API Gateway v1, v2 or ALB event."""
    if "elb" in event.get("requestContext", {}):
        if "multiValueHeaders" in event:
            # AlbModel requires the single-value maps, which AWS leaves out in multi-value
            # mode (Powertools' own albMultiValueHeadersEvent.json fails it too)
            assert "headers" not in event and "queryStringParameters" not in event
            AlbModel.model_validate({**event, "headers": {}, "queryStringParameters": {}})
        else:
            AlbModel.model_validate(event)
    elif event.get("version") == "2.0":
        APIGatewayProxyEventV2Model.model_validate(event)
    else:
        APIGatewayProxyEventModel.model_validate(event)


def validated(handler: Handler) -> Handler:
    def validating_handler(event: dict[str, Any], context: Any) -> Any:
        validate(event)
        return handler(event, context)

    return validating_handler

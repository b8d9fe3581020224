"""The shared routes behind Powertools' APIGatewayRestResolver (API Gateway v1 events)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from webapp_events import validated
from webapp_powertools_routes import register

app = APIGatewayRestResolver()
register(app)


@validated
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)

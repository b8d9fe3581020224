"""The shared routes behind Powertools' APIGatewayHttpResolver (API Gateway v2 events)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from webapp_events import validated
from webapp_powertools_routes import register

app = APIGatewayHttpResolver()
register(app)


@validated
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)

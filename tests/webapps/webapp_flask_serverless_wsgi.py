"""webapp_flask's Flask app as a Lambda handler through serverless-wsgi (v1, v2, ALB)."""

from __future__ import annotations

from typing import Any

import serverless_wsgi
from webapp_events import validated
from webapp_flask import app


@validated
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return serverless_wsgi.handle_request(app, event, context)

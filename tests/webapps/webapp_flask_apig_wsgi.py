"""webapp_flask's Flask app as a Lambda handler through apig-wsgi (v1, v2, ALB).

binary_support is on, as an API that serves binary bodies needs (apig-wsgi leaves it off
for v1 events by default)."""

from __future__ import annotations

from apig_wsgi import make_lambda_handler
from webapp_events import validated
from webapp_flask import app

handler = validated(make_lambda_handler(app, binary_support=True))

"""A handler in a package (handler: pkg.api.routes.handler), importing its siblings the
two ways a packaged Lambda does: relatively and by the package's absolute name."""

import json

from pkg import settings

from . import greeting


def handler(event, context):
    body = {"greeting": greeting.TEXT, "settings": settings.NAME, "module": __name__}
    return {"statusCode": 200, "headers": {"X-Runtime": "python-pkg"}, "body": json.dumps(body)}

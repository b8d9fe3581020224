"""A Python handler in AWS's form (runtime: python3.x, handler: app.handler)."""

import json
import os
import time


def handler(event, context):
    if "sleep" in event.get("path", ""):
        time.sleep(5)
    if "exit" in event.get("path", ""):
        os._exit(4)
    if "fail" in event.get("path", ""):
        raise KeyError("no such order")
    body = {"path": event["path"], "function": context.function_name, "module": __name__}
    return {"statusCode": 200, "headers": {"X-Runtime": "python-app"}, "body": json.dumps(body)}

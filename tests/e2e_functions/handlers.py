"""Lambda handlers for the addon's end-to-end tests (run by the local Lambda server)."""

import base64
import json
import time


def echo(event, context):
    """Return the event as received, so tests can inspect the payload we built."""
    print(f"echo invoked as {context.function_name} version {context.function_version}")
    return event


def proxy(event, context):
    """Answer in API Gateway proxy-integration format, echoing the event in the body."""
    return {
        "statusCode": 201,
        "headers": {"Content-Type": "application/json", "X-From-Function": "yes"},
        "multiValueHeaders": {"Set-Cookie": ["a=1; Path=/", "b=2; Path=/"]},
        "body": json.dumps(event),
    }


def binary(event, context):
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "image/png"},
        "body": base64.b64encode(bytes(range(256))).decode(),
        "isBase64Encoded": True,
    }


def invalid_proxy(event, context):
    return {"statusCode": "not a number", "body": "x"}


def fail(event, context):
    raise ValueError("boom from the function")


def slow(event, context):
    time.sleep(2)
    return {"slept": 2}


def big(event, context):
    size = int(event.get("size", 4 * 1024 * 1024)) if isinstance(event, dict) else 0
    return {"data": "x" * size}

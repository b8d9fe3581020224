"""The benchmark's Python handler: a fixed API Gateway proxy-integration answer whose body is
the upstream peer's body, so that the whole stack and passthrough send the same bytes."""

BODY = '{"ok": true}'


def handler(event, context):
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": BODY}

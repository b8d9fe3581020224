"""Answers in API Gateway proxy-integration format: {statusCode, headers, body}."""

import json


def handler(event, context):
    method = event.get("httpMethod") or event.get("requestContext", {}).get("http", {}).get(
        "method"
    )
    path = event.get("path") or event.get("rawPath")
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json", "X-Handled-By": context.function_name},
        "body": json.dumps(
            {
                "method": method,
                "path": path,
                "resource": event.get("resource") or event.get("routeKey"),
                "pathParameters": event.get("pathParameters"),
                "query": event.get("queryStringParameters"),
            }
        ),
        "isBase64Encoded": False,
    }

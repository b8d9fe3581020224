"""A Runtime API client written against AWS's documentation, that misuses the API on purpose
and answers with what the API said (status and body of each misuse)."""

import json
import os
import urllib.error
import urllib.request

API = f"http://{os.environ['AWS_LAMBDA_RUNTIME_API']}/2018-06-01/runtime"


def call(method, path, body=None, headers=None):
    request = urllib.request.Request(API + path, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


while True:
    status, headers, event = call("GET", "/invocation/next")
    request_id = headers["Lambda-Runtime-Aws-Request-Id"]
    seen = {
        "headers": {k: v for k, v in headers.items() if k.startswith("Lambda-Runtime")},
        "content_type": headers.get("Content-Type"),
        "environment": {
            k: os.environ.get(k)
            for k in (
                "_HANDLER",
                "LAMBDA_TASK_ROOT",
                "LAMBDA_RUNTIME_DIR",
                "AWS_LAMBDA_FUNCTION_NAME",
                "AWS_LAMBDA_FUNCTION_VERSION",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                "AWS_LAMBDA_LOG_GROUP_NAME",
                "AWS_LAMBDA_LOG_STREAM_NAME",
                "AWS_REGION",
                "AWS_DEFAULT_REGION",
                "TZ",
                "AWS_ACCESS_KEY_ID",
                "AWS_SECRET_ACCESS_KEY",
                "COLOR",
            )
        },
        "unknown_id": call("POST", "/invocation/not-an-id/response", b"{}")[::2],
        "too_large": None,
        "init_error_late": call("POST", "/init/error", b"{}")[::2],
    }
    mode = json.loads(event).get("mode")
    if mode == "too_large":
        print(json.dumps(seen, default=lambda b: [b.decode()] if isinstance(b, bytes) else b))
        status, _, body = call("POST", f"/invocation/{request_id}/response", b"x" * 6291557)
        continue
    if mode == "error":
        call(
            "POST",
            f"/invocation/{request_id}/error",
            b'{"errorMessage": "bad", "errorType": "Oops"}',
            {"Lambda-Runtime-Function-Error-Type": "Unhandled"},
        )
        continue
    answer = json.dumps(seen, default=lambda b: b.decode()).encode()
    first = call("POST", f"/invocation/{request_id}/response", answer)
    second = call("POST", f"/invocation/{request_id}/response", b"{}")
    print("first", first[0], "second", second[0], second[2].decode(), flush=True)

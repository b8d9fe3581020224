"""A handler run by AWS's awslambdaric against the local Runtime API."""

import json
import os
import time


def handler(event, context):
    if event.get("fail"):
        raise ValueError(event["fail"])
    if event.get("sleep"):
        time.sleep(event["sleep"])
    if event.get("fork") and os.fork() == 0:
        time.sleep(60)
        os._exit(0)
    if event.get("exit"):
        os._exit(event["exit"])
    print("ric handler ran")
    if "httpMethod" in event:  # API Gateway REST: answer in proxy integration format
        body = json.dumps({"path": event["path"], "runtime": "awslambdaric"})
        return {"statusCode": 201, "headers": {"X-Runtime": "ric"}, "body": body}
    return {
        "event": event,
        "request_id": context.aws_request_id,
        "function_name": context.function_name,
        "handler": os.environ["_HANDLER"],
        "task_root": os.environ["LAMBDA_TASK_ROOT"],
        "pid": os.getpid(),
    }

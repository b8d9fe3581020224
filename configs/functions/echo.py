"""Echoes the event back, with what the context and environment say about the call."""

import os


def handler(event, context):
    print(f"echo: {os.environ.get('GREETING', 'hello')} from {context.function_name}")
    client_context = context.client_context
    return {
        "event": event,
        "greeting": os.environ.get("GREETING"),
        "trace_id": os.environ.get("_X_AMZN_TRACE_ID"),
        "context": {
            "function_name": context.function_name,
            "function_version": context.function_version,
            "invoked_function_arn": context.invoked_function_arn,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "aws_request_id": context.aws_request_id,
            "log_group_name": context.log_group_name,
            "log_stream_name": context.log_stream_name,
            "remaining_time_in_millis": context.get_remaining_time_in_millis(),
            "client_context": None
            if client_context is None
            else {
                "custom": client_context.custom,
                "env": client_context.env,
                "client": None
                if client_context.client is None
                else {
                    "app_title": client_context.client.app_title,
                    "installation_id": client_context.client.installation_id,
                },
            },
        },
    }

"""Handlers whose failures and answers the flow record and the Lambda view must show."""

import json


class PaymentDeclined(Exception):
    pass


def declined(event, context):
    print("charging card 4242 for order 7")
    raise PaymentDeclined("card declined: insufficient funds")


def echo(event, context):
    print(f"echo invoked as {context.function_name}")
    return event


def proxy(event, context):
    return {
        "statusCode": 201,
        "headers": {"content-type": "application/json"},
        "body": json.dumps({"seen": event.get("body")}),
    }

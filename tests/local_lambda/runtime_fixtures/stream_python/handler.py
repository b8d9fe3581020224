"""Python handlers (which cannot stream on AWS) for InvokeWithResponseStream."""


def handler(event, context):
    print("python says hi")
    return {"echo": event, "chunks": "one"}


def fails(event, context):
    raise ValueError("python broke")

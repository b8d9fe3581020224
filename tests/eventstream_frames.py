"""Event-stream frames for test servers: the local server's encoder
(``local_lambda.eventstream``), plus the exception frame that only tests send."""

from __future__ import annotations

import json

from local_lambda.eventstream import frame
from local_lambda.eventstream import invoke_complete as complete
from local_lambda.eventstream import payload_chunk as chunk

__all__ = ["chunk", "complete", "exception", "frame"]


def exception(exception_type: str, message: str) -> bytes:
    return frame(
        {
            ":exception-type": exception_type,
            ":content-type": "application/json",
            ":message-type": "exception",
        },
        json.dumps({"Message": message}).encode(),
    )

"""AWS event-stream frames (``application/vnd.amazon.eventstream``), the encoding side.

botocore only decodes them. A frame is a 12-byte prelude (total length, headers length,
CRC32 of those 8 bytes), the headers (name length, name, type 7 = string, value length,
value), the payload, and the CRC32 of everything before it. InvokeWithResponseStream
answers ``PayloadChunk`` events with the function's bytes, then one ``InvokeComplete``.
"""

from __future__ import annotations

import json
import struct
from binascii import crc32

CONTENT_TYPE = "application/vnd.amazon.eventstream"
_STRING = 7


def frame(headers: dict[str, str], payload: bytes) -> bytes:
    encoded = b"".join(
        struct.pack(">B", len(name_bytes))
        + name_bytes
        + struct.pack(">BH", _STRING, len(value_bytes))
        + value_bytes
        for name_bytes, value_bytes in (
            (name.encode(), value.encode()) for name, value in headers.items()
        )
    )
    total = 12 + len(encoded) + len(payload) + 4
    prelude = struct.pack(">II", total, len(encoded))
    prelude += struct.pack(">I", crc32(prelude))
    message = prelude + encoded + payload
    return message + struct.pack(">I", crc32(message))


def payload_chunk(data: bytes) -> bytes:
    """A ``PayloadChunk`` event carrying ``data`` (the function's bytes, as written)."""
    return frame(
        {
            ":event-type": "PayloadChunk",
            ":content-type": "application/octet-stream",
            ":message-type": "event",
        },
        data,
    )


def invoke_complete(
    error_code: str | None = None,
    error_details: str | None = None,
    log_result: str | None = None,
) -> bytes:
    """The ``InvokeComplete`` event that ends the stream; members only when they are set."""
    body = {"ErrorCode": error_code, "ErrorDetails": error_details, "LogResult": log_result}
    return frame(
        {
            ":event-type": "InvokeComplete",
            ":content-type": "application/json",
            ":message-type": "event",
        },
        json.dumps({key: value for key, value in body.items() if value is not None}).encode(),
    )

"""An encoder of AWS event-stream frames for test servers (the spec: 12-byte prelude with
total and headers length and a CRC32, headers, payload, message CRC32)."""

from __future__ import annotations

import json
import struct
from binascii import crc32


def frame(headers: dict[str, str], payload: bytes) -> bytes:
    encoded = b"".join(
        bytes([len(name.encode())])
        + name.encode()
        + b"\x07"
        + struct.pack(">H", len(value.encode()))
        + value.encode()
        for name, value in headers.items()
    )
    total = 12 + len(encoded) + len(payload) + 4
    prelude = struct.pack(">II", total, len(encoded))
    prelude += struct.pack(">I", crc32(prelude) & 0xFFFFFFFF)
    message = prelude + encoded + payload
    return message + struct.pack(">I", crc32(message) & 0xFFFFFFFF)


def chunk(payload: bytes) -> bytes:
    return frame(
        {
            ":event-type": "PayloadChunk",
            ":content-type": "application/octet-stream",
            ":message-type": "event",
        },
        payload,
    )


def complete(
    error_code: str | None = None, details: str | None = None, log_result: str | None = None
) -> bytes:
    body = {"ErrorCode": error_code, "ErrorDetails": details, "LogResult": log_result}
    return frame(
        {
            ":event-type": "InvokeComplete",
            ":content-type": "application/json",
            ":message-type": "event",
        },
        json.dumps({k: v for k, v in body.items() if v is not None}).encode(),
    )


def exception(exception_type: str, message: str) -> bytes:
    return frame(
        {
            ":exception-type": exception_type,
            ":content-type": "application/json",
            ":message-type": "exception",
        },
        json.dumps({"Message": message}).encode(),
    )

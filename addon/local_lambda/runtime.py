"""The code that runs inside a worker process: one Lambda execution environment.

Started by the server as ``python -m local_lambda.runtime HANDLER_FILE HANDLER_NAME [MODULE]``
(MODULE for AWS's ``module.function`` form, run from the task root) with the function's
environment. It imports only the standard library, so it starts fast.

Protocol, over the worker's original stdin/stdout (both are moved away at start, so a
handler that prints, or writes to fd 1, cannot corrupt it). Every frame is a kind byte, a
4-byte big-endian length and the body:

    server -> worker  b"I"  invoke: meta JSON (length-prefixed) + the event payload bytes
    worker -> server  b"R"  ready: JSON {"error": error object or null}
                      b"L"  log text (stdout, stderr and the logging module), as written
                      b"D"  done: meta JSON {"error", "duration_ms", "max_memory_mb"}
                            (length-prefixed) + the result JSON (or the error object)

The context object (``runtime_context.py``) and the error objects (``runtime_errors.py``)
follow the AWS Python runtime (awslambdaric).
"""

from __future__ import annotations

import importlib.util
import io
import json
import logging
import os
import resource
import struct
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from local_lambda.runtime_context import LambdaContext
from local_lambda.runtime_errors import HandlerNotFound, error_object, init_error, marshal_error

_FRAME_HEADER = struct.Struct(">cI")
_LENGTH = struct.Struct(">I")


def pack(kind: bytes, body: bytes) -> bytes:
    return _FRAME_HEADER.pack(kind, len(body)) + body


def pack_with_meta(kind: bytes, meta: dict[str, Any], payload: bytes) -> bytes:
    meta_bytes = json.dumps(meta, separators=(",", ":")).encode()
    return pack(kind, _LENGTH.pack(len(meta_bytes)) + meta_bytes + payload)


def split_meta(body: bytes) -> tuple[dict[str, Any], bytes]:
    (meta_length,) = _LENGTH.unpack_from(body)
    end = _LENGTH.size + meta_length
    return json.loads(body[_LENGTH.size : end]), body[end:]


class FrameWriter:
    """Writes frames to the server; thread-safe, since handlers may print from threads."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def send(self, frame: bytes) -> None:
        with self._lock:
            self._stream.write(frame)
            self._stream.flush()


class LogStream(io.TextIOBase):
    """Replaces sys.stdout/sys.stderr: forwards complete lines to the server as log frames."""

    def __init__(self, writer: FrameWriter, fd: int) -> None:
        super().__init__()
        self._writer = writer
        self._fd = fd
        self._pending: list[str] = []
        self._lock = threading.Lock()

    encoding = "utf-8"

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        """The fd-level stream (redirected to the server's stderr): not captured, but works."""
        return self._fd

    def write(self, text: str) -> int:
        with self._lock:
            self._pending.append(text)
        if "\n" in text:
            self.flush()
        return len(text)

    def flush(self) -> None:
        with self._lock:
            text, self._pending = "".join(self._pending), []
        if text:
            self._writer.send(pack(b"L", text.encode("utf-8", "replace")))


class LambdaLogHandler(logging.Handler):
    """The AWS runtime's root handler: ``[LEVEL]\\ttime\\trequest id\\tmessage``."""

    def __init__(self) -> None:
        super().__init__()
        self.request_id = ""
        formatter = logging.Formatter(
            "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n",
            "%Y-%m-%dT%H:%M:%S",
        )
        formatter.converter = time.gmtime
        self.setFormatter(formatter)

    def emit(self, record: logging.LogRecord) -> None:
        record.aws_request_id = self.request_id
        try:
            sys.stdout.write(self.format(record))
            sys.stdout.flush()
        except Exception:
            self.handleError(record)


def load_handler(
    handler_file: Path, handler_name: str, module_name: str | None = None
) -> Callable[[Any, Any], Any]:
    """Import the handler's module and return the handler.

    Our short form (``path/file.py:fn``, no ``module_name``) imports the file as a
    top-level module with its directory first on sys.path. AWS's form
    (``pkg.mod.handler``) imports ``module_name`` the way AWS's Python runtime does, with
    the task root first on sys.path: packages, namespace packages and relative imports work.
    """
    name = module_name or handler_file.stem
    if name.split(".")[0] in sys.modules:  # e.g. json.py: replacing it would break the runtime
        raise ImportError(f"a module named '{name}' is already imported; rename the file")
    if module_name is not None:
        module = importlib.import_module(module_name)
    else:
        spec = importlib.util.spec_from_file_location(name, handler_file)
        if spec is None or spec.loader is None or not handler_file.is_file():
            raise ImportError(f"No module named '{name}'")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    handler = getattr(module, handler_name, None)
    if not callable(handler):
        raise HandlerNotFound(f"Handler '{handler_name}' missing on module '{name}'")
    return handler


def max_memory_mb() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak / (1024 * 1024 if sys.platform == "darwin" else 1024))


class Worker:
    """Reads invocations, runs the handler, answers; one invocation at a time."""

    def __init__(
        self, reader: BinaryIO, writer: FrameWriter, log_handler: LambdaLogHandler
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._log_handler = log_handler

    def read_frame(self) -> tuple[bytes, bytes] | None:
        header = self._reader.read(_FRAME_HEADER.size)
        if len(header) < _FRAME_HEADER.size:
            return None
        kind, length = _FRAME_HEADER.unpack(header)
        body = self._reader.read(length)
        return (kind, body) if len(body) == length else None

    def serve(self, handler: Callable[[Any, Any], Any]) -> None:
        while (frame := self.read_frame()) is not None:
            meta, payload = split_meta(frame[1])
            self._writer.send(self.invoke(handler, meta, payload))

    def invoke(
        self, handler: Callable[[Any, Any], Any], meta: dict[str, Any], payload: bytes
    ) -> bytes:
        request_id = meta["request_id"]
        deadline = time.monotonic() + meta["timeout"]
        os.environ["AWS_LAMBDA_FUNCTION_VERSION"] = meta["version"]
        os.environ["_X_AMZN_TRACE_ID"] = meta["trace_id"]
        self._log_handler.request_id = request_id
        started = time.perf_counter()
        failed = False
        try:
            event = json.loads(payload) if payload else {}
            result = handler(event, LambdaContext(meta, deadline))
            try:
                body = json.dumps(result).encode()
            except (TypeError, ValueError) as exc:
                failed = True
                body = marshal_error(exc, request_id)
        except Exception as exc:
            failed = True
            error = error_object(exc, request_id)
            sys.stdout.write(
                f"[ERROR] {error['errorType']}: {error['errorMessage']}\n"
                f"Traceback (most recent call last):\n{''.join(error['stackTrace'])}"
            )
            body = json.dumps(error).encode()
        duration_ms = (time.perf_counter() - started) * 1000
        sys.stdout.flush()
        sys.stderr.flush()
        meta_out = {"error": failed, "duration_ms": duration_ms, "max_memory_mb": max_memory_mb()}
        return pack_with_meta(b"D", meta_out, body)


def main() -> None:
    handler_file, handler_name = Path(sys.argv[1]), sys.argv[2]
    module_name = sys.argv[3] if len(sys.argv) > 3 else None  # AWS's form: pkg.mod
    reader = os.fdopen(os.dup(0), "rb")
    writer = FrameWriter(os.fdopen(os.dup(1), "wb"))
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(2, 1)
    sys.stdin = open(os.devnull, encoding="utf-8")  # noqa: SIM115 - lives as long as the process
    sys.stdout = LogStream(writer, 1)
    sys.stderr = LogStream(writer, 2)
    log_handler = LambdaLogHandler()
    logging.getLogger().addHandler(log_handler)
    sys.path.insert(0, os.getcwd() if module_name else str(handler_file.parent))

    try:
        handler = load_handler(handler_file, handler_name, module_name)
    except Exception as exc:
        error = init_error(exc, module_name or handler_file.stem)
        sys.stdout.write(f"[ERROR] {error['errorType']}: {error['errorMessage']}\n")
        writer.send(pack(b"R", json.dumps({"error": error}).encode()))
        return
    sys.stdout.flush()
    writer.send(pack(b"R", json.dumps({"error": None}).encode()))
    Worker(reader, writer, log_handler).serve(handler)


if __name__ == "__main__":
    main()

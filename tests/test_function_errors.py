"""Reading a failed function's answer: each runtime's error object, and bodies that are not one."""

from __future__ import annotations

import json

from lambdaroute.function_errors import MAX_MESSAGE_CHARS, function_error_of

UNHANDLED = (("X-Amz-Function-Error", "Unhandled"),)


def test_no_header_is_no_function_error() -> None:
    assert function_error_of((), b'{"errorType":"X","errorMessage":"y"}') is None


def test_python_error_object() -> None:
    body = {
        "errorMessage": "'action'",
        "errorType": "KeyError",
        "requestId": "r",
        "stackTrace": ['  File "/var/task/app.py", line 3, in handler\n    event["action"]\n'],
    }
    failure = function_error_of(UNHANDLED, json.dumps(body).encode())
    assert failure is not None
    assert (failure.kind, failure.error_type, failure.error_message) == (
        "Unhandled",
        "KeyError",
        "'action'",
    )
    assert failure.stack_trace == (
        '  File "/var/task/app.py", line 3, in handler',
        '    event["action"]',
    )
    assert failure.summary() == "Unhandled KeyError: 'action'"


def test_node_uses_trace_and_handled_is_kept() -> None:
    body = {"errorType": "ReferenceError", "errorMessage": "x is not defined", "trace": ["at a"]}
    failure = function_error_of((("x-amz-function-error", "Handled"),), json.dumps(body).encode())
    assert failure is not None
    assert failure.kind == "Handled"
    assert failure.stack_trace == ("at a",)


def test_go_frames_become_lines() -> None:
    body = {
        "errorMessage": "boom",
        "errorType": "errorString",
        "stackTrace": [{"path": "main.go", "line": 12, "label": "handler"}],
    }
    failure = function_error_of(UNHANDLED, json.dumps(body).encode())
    assert failure is not None
    assert failure.stack_trace == ("handler (main.go:12)",)


def test_timeout_with_only_a_message() -> None:
    body = b'{"errorMessage":"2026-12-01T00:00:00Z abc Task timed out after 3.00 seconds"}'
    failure = function_error_of(UNHANDLED, body)
    assert failure is not None
    assert failure.error_type is None
    assert failure.summary().startswith("Unhandled 2026-12-01T00:00:00Z abc Task timed out")


def test_a_body_that_is_no_error_object_is_kept_as_the_message() -> None:
    failure = function_error_of(UNHANDLED, b"segfault\n")
    assert failure is not None
    assert (failure.error_type, failure.error_message) == (None, "segfault")
    empty = function_error_of(UNHANDLED, b"")
    assert empty is not None and empty.summary() == "Unhandled"


def test_huge_messages_are_bounded() -> None:
    body = json.dumps({"errorType": "E", "errorMessage": "m" * (MAX_MESSAGE_CHARS * 3)})
    failure = function_error_of(UNHANDLED, body.encode())
    assert failure is not None and failure.error_message is not None
    assert len(failure.error_message) < MAX_MESSAGE_CHARS + 50

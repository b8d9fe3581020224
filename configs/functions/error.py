"""Raises: Lambda answers with X-Amz-Function-Error: Unhandled and the error object."""

import logging

logger = logging.getLogger(__name__)


def handler(event, context):
    logger.error("about to fail for %s", context.aws_request_id)
    raise ValueError(event.get("message", "something went wrong"))

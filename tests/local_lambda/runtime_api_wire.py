"""Shared by the tests that speak to the server's Runtime API on the wire, in process."""

from __future__ import annotations

import asyncio

from local_lambda.runtime_api import RuntimeSession

BASE = "/2018-06-01/runtime"


async def connect(session: RuntimeSession) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, _, port = session.endpoint.rpartition(":")
    return await asyncio.open_connection(host, int(port))

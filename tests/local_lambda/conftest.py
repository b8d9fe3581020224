"""The Runtime API session the wire-level tests speak to (``runtime_api_wire``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from local_lambda.runtime_api import RuntimeApi, RuntimeSession


@pytest.fixture
async def session() -> AsyncIterator[RuntimeSession]:
    api = RuntimeApi()
    opened = await api.open()
    yield opened
    await api.close()

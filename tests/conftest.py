"""Fixtures shared by the Invoke tests (test_invocation, test_credentials).

Each of those modules defines ``keys``: the credentials its fake Lambda accepts.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from lambdaroute.invocation import LambdaClient
from tests.fakeaws import FakeLambda, KeyStore, isolate_aws_env


@pytest.fixture
def isolated_aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No AWS settings from the machine: env, config files, instance metadata."""
    isolate_aws_env(monkeypatch, tmp_path)


@pytest.fixture
async def fake(keys: KeyStore) -> AsyncIterator[FakeLambda]:
    """A loopback Invoke endpoint that checks every signature against ``keys``."""
    server = FakeLambda(keys)
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def client() -> AsyncIterator[LambdaClient]:
    lambda_client = LambdaClient()
    yield lambda_client
    await lambda_client.close()

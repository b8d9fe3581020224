"""Credentials from every source botocore knows, assume role on top, refreshed off the loop.

Each test runs with an isolated environment (no machine credentials, no instance metadata)
and checks the result end to end: the loopback Lambda fake accepts only correctly signed
calls made with credentials it issued or was told about.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from lambdaroute.config import LambdaPluginConfig
from lambdaroute.credentials import CredentialProviders, CredentialSource, CredentialsProvider
from lambdaroute.errors import CredentialsError
from lambdaroute.invocation import LambdaClient
from tests.fakeaws import (
    ConnectProxy,
    FakeEcsCredentials,
    FakeLambda,
    FakeSts,
    KeyStore,
)

BASE_KEY, BASE_SECRET = "AKIDBASE", "base-secret/+="
ROLE = "arn:aws:iam::123456789012:role/invoker"


pytestmark = pytest.mark.usefixtures("isolated_aws_env")


@pytest.fixture
def keys() -> KeyStore:
    store = KeyStore()
    store.add(BASE_KEY, BASE_SECRET)
    return store


@pytest.fixture
async def sts(keys: KeyStore) -> AsyncIterator[FakeSts]:
    server = FakeSts(keys)
    await server.start()
    yield server
    if server.gate is not None:
        server.gate.set()
    await server.close()


def plugin_for(server: FakeLambda, **overrides: object) -> LambdaPluginConfig:
    settings: dict[str, object] = {
        "function_name": "echo",
        "aws_region": "us-east-1",
        "host": "127.0.0.1",
        "port": server.port,
        "disable_https": True,
        **overrides,
    }
    return LambdaPluginConfig(**settings)  # type: ignore[arg-type]


def access_key_used(server: FakeLambda, index: int = -1) -> str:
    authorization = server.received[index].header("Authorization") or ""
    return authorization.split("Credential=", 1)[1].split("/", 1)[0]


def assume_role_source(sts: FakeSts, **overrides: object) -> CredentialSource:
    settings: dict[str, object] = {
        "region": "us-east-1",
        "aws_key": BASE_KEY,
        "aws_secret": BASE_SECRET,
        "assume_role_arn": ROLE,
        "sts_endpoint_url": sts.url,
        **overrides,
    }
    return CredentialSource(**settings)  # type: ignore[arg-type]


async def wait_for(condition: object, what: str) -> None:
    deadline = time.monotonic() + 10
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        await asyncio.sleep(0.01)


async def test_from_environment_with_session_token(
    fake: FakeLambda, keys: KeyStore, client: LambdaClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys.add("AKIDENV", "env-secret", "env-token")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDENV")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "env-token")
    result = await client.invoke(plugin_for(fake), b"{}")
    assert result.status == 200
    assert access_key_used(fake) == "AKIDENV"
    assert fake.received[0].header("X-Amz-Security-Token") == "env-token"


async def test_from_shared_credentials_file_profile(
    fake: FakeLambda,
    keys: KeyStore,
    client: LambdaClient,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    keys.add("AKIDPROFILE", "profile-secret")
    credentials_file = tmp_path / "credentials"
    credentials_file.write_text(
        "[default]\naws_access_key_id = AKIDWRONG\naws_secret_access_key = wrong\n\n"
        "[invoker]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = profile-secret\n"
    )
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials_file))
    monkeypatch.setenv("AWS_PROFILE", "invoker")
    await client.invoke(plugin_for(fake), b"{}")
    assert access_key_used(fake) == "AKIDPROFILE"


async def test_from_ecs_container_endpoint(
    fake: FakeLambda, keys: KeyStore, client: LambdaClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    ecs = FakeEcsCredentials(keys, authorization="container-token")
    await ecs.start()
    try:
        monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", f"{ecs.url}{ecs.path}")
        monkeypatch.setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "container-token")
        await client.invoke(plugin_for(fake), b"{}")
        await client.invoke(plugin_for(fake), b"{}")
    finally:
        await ecs.close()
    [(access_key, _, token)] = ecs.issued  # fetched once, then cached
    assert access_key_used(fake) == access_key
    assert fake.received[-1].header("X-Amz-Security-Token") == token


async def test_assume_role_on_static_keys(
    fake: FakeLambda, sts: FakeSts, client: LambdaClient
) -> None:
    plugin = plugin_for(
        fake,
        aws_key=BASE_KEY,
        aws_secret=BASE_SECRET,
        aws_assume_role_arn=ROLE,
        aws_role_session_name="lambda-route-test",
        aws_sts_endpoint_url=sts.url,
    )
    await client.invoke(plugin, b"{}")
    await client.invoke(plugin, b"{}")
    [call] = sts.calls
    assert (call["Action"], call["RoleArn"], call["RoleSessionName"]) == (
        "AssumeRole",
        ROLE,
        "lambda-route-test",
    )
    [(access_key, _, token)] = sts.issued
    assert access_key_used(fake) == access_key
    assert fake.received[-1].header("X-Amz-Security-Token") == token


async def test_assume_role_on_the_default_chain(
    fake: FakeLambda, sts: FakeSts, client: LambdaClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", BASE_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", BASE_SECRET)
    await client.invoke(
        plugin_for(fake, aws_assume_role_arn=ROLE, aws_sts_endpoint_url=sts.url), b"{}"
    )
    assert sts.calls[0]["RoleSessionName"] == "kong"
    assert access_key_used(fake) == sts.issued[0][0]


async def test_refresh_before_expiry_does_not_block(sts: FakeSts) -> None:
    # refreshed half-way through, in the background. STS's Expiration has whole seconds,
    # so up to 1 s of the lifetime is lost: past half-way (<= 3 s) and well before expiry
    # (>= 5 s), also on a loaded machine
    sts.lifetime_s = 6
    provider = CredentialsProvider(assume_role_source(sts))
    first = await provider.get()
    assert first.access_key == sts.issued[0][0]

    await asyncio.sleep(3.1)
    sts.gate = asyncio.Event()  # STS now answers only when the test lets it
    # starts the refresh and answers at once: were it waiting for STS, it would time out
    during = await asyncio.wait_for(provider.get(), 5)
    await wait_for(lambda: sts.in_flight == 1, "the refresh to reach STS")
    many = await asyncio.wait_for(asyncio.gather(*(provider.get() for _ in range(50))), 5)
    assert during == first
    assert all(credentials == first for credentials in many)
    assert len(sts.calls) == 2  # one refresh shared by every caller

    sts.gate.set()
    deadline = time.monotonic() + 10
    while (second := await provider.get()) == first:
        assert time.monotonic() < deadline, "the refreshed credentials never arrived"
        await asyncio.sleep(0.01)
    assert second.access_key == sts.issued[1][0] != first.access_key
    assert second.token == sts.issued[1][2]
    await provider.close()


async def test_first_resolution_is_shared(sts: FakeSts) -> None:
    sts.gate = asyncio.Event()
    provider = CredentialsProvider(assume_role_source(sts))
    waiting = asyncio.gather(*(provider.get() for _ in range(20)))
    await wait_for(lambda: sts.in_flight == 1, "the resolution to reach STS")
    sts.gate.set()
    results = await waiting
    assert len(sts.calls) == 1
    assert {credentials.access_key for credentials in results} == {sts.issued[0][0]}


async def test_expired_and_refresh_fails(sts: FakeSts) -> None:
    sts.lifetime_s = 1
    provider = CredentialsProvider(assume_role_source(sts))
    await provider.get()
    sts.fail_with = (403, "AccessDenied", "User is not authorized to perform sts:AssumeRole")
    await asyncio.sleep(1.1)
    with pytest.raises(CredentialsError) as caught:
        await provider.get()
    assert caught.value.status_code == 500
    assert "AccessDenied" in caught.value.detail
    assert BASE_SECRET not in caught.value.detail


async def test_wrong_base_secret_fails_assume_role_without_leaking_it(
    fake: FakeLambda, sts: FakeSts, client: LambdaClient
) -> None:
    plugin = plugin_for(
        fake,
        aws_key=BASE_KEY,
        aws_secret="wrong-secret-value",
        aws_assume_role_arn=ROLE,
        aws_sts_endpoint_url=sts.url,
    )
    with pytest.raises(CredentialsError) as caught:
        await client.invoke(plugin, b"{}")
    assert "InvalidSignatureException" in caught.value.detail
    assert "wrong-secret-value" not in caught.value.detail
    assert fake.received == []


async def test_sts_and_lambda_go_through_proxy_url(
    fake: FakeLambda, sts: FakeSts, client: LambdaClient
) -> None:
    proxy = ConnectProxy()
    await proxy.start()
    try:
        plugin = plugin_for(
            fake,
            aws_key=BASE_KEY,
            aws_secret=BASE_SECRET,
            aws_assume_role_arn=ROLE,
            aws_sts_endpoint_url=sts.url,
            proxy_url=proxy.url,
        )
        await client.invoke(plugin, b"{}")
    finally:
        await proxy.close()
    assert f"POST http://127.0.0.1:{sts.port}/" in proxy.request_lines
    assert any(
        line.startswith(f"POST http://127.0.0.1:{fake.port}/2015-03-31/")
        for line in proxy.request_lines
    )


async def test_web_identity_from_the_chain_goes_through_proxy_url(
    fake: FakeLambda,
    sts: FakeSts,
    client: LambdaClient,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """EKS IRSA: botocore's web identity provider; its STS client uses proxy_url (Kong #11551)."""
    token_file = tmp_path / "token"
    token_file.write_text(sts.web_identity_token)
    monkeypatch.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", str(token_file))
    monkeypatch.setenv("AWS_ROLE_ARN", ROLE)
    monkeypatch.setenv("AWS_ROLE_SESSION_NAME", "irsa")
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", sts.url)
    proxy = ConnectProxy()
    await proxy.start()
    try:
        await client.invoke(plugin_for(fake, proxy_url=proxy.url), b"{}")
    finally:
        await proxy.close()
    [call] = sts.calls
    assert (call["Action"], call["RoleArn"], call["RoleSessionName"]) == (
        "AssumeRoleWithWebIdentity",
        ROLE,
        "irsa",
    )
    assert access_key_used(fake) == sts.issued[0][0]
    assert f"POST http://127.0.0.1:{sts.port}/" in proxy.request_lines


async def test_no_credentials_at_all(fake: FakeLambda, client: LambdaClient) -> None:
    with pytest.raises(CredentialsError) as caught:
        await client.invoke(plugin_for(fake), b"{}")
    assert caught.value.status_code == 500
    assert "no AWS credentials found" in caught.value.detail
    assert fake.received == []


async def test_key_without_secret(fake: FakeLambda, client: LambdaClient) -> None:
    with pytest.raises(CredentialsError, match="aws_secret"):
        await client.invoke(plugin_for(fake, aws_key="AKIDONLY"), b"{}")


async def test_one_provider_per_credential_config(
    fake: FakeLambda, keys: KeyStore, client: LambdaClient
) -> None:
    """A rotated (e.g. vault-referenced) aws_key gets its own provider and is used at once."""
    providers = CredentialProviders()
    source = CredentialSource(region="us-east-1", aws_key="A", aws_secret="s")
    assert providers.provider(source) is providers.provider(
        CredentialSource(region="us-east-1", aws_key="A", aws_secret="s")
    )
    assert providers.provider(source) is not providers.provider(
        CredentialSource(region="us-east-1", aws_key="B", aws_secret="s")
    )

    keys.add("AKIDROTATED", "rotated-secret")
    await client.invoke(plugin_for(fake, aws_key=BASE_KEY, aws_secret=BASE_SECRET), b"{}")
    await client.invoke(plugin_for(fake, aws_key="AKIDROTATED", aws_secret="rotated-secret"), b"{}")
    assert [access_key_used(fake, 0), access_key_used(fake, 1)] == [BASE_KEY, "AKIDROTATED"]


def test_secrets_stay_out_of_reprs() -> None:
    source = CredentialSource(
        region="us-east-1", aws_key="AKID", aws_secret="sekrit", proxy_url="http://u:pw@p:1"
    )
    assert "sekrit" not in repr(source)
    assert "pw" not in repr(source)

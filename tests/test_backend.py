"""The backend: the real Azure SDK over HTTPS to the fake vault, errors mapped to domain errors."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import trio
from azure.identity import WorkloadIdentityCredential
from azure.keyvault.keys import KeyClient

from kvfs.config import ObjectSpec
from kvfs.content.material import KeyMaterial, SecretMaterial
from kvfs.errors import (
    AccessDenied,
    AuthenticationFailed,
    ObjectDisabled,
    ObjectNotFound,
    Throttled,
    VaultUnavailable,
)
from kvfs.fakevault import FakeVault
from kvfs.vault.backend import BackendSettings, VaultBackend
from tests.conftest import sdk_options


def make_backend(vault: FakeVault, credential: WorkloadIdentityCredential, **overrides: object) -> VaultBackend:
    settings = BackendSettings(
        vault_url=vault.vault_url, emulator=True, ca_file=str(vault.ca_file), retry_total=0, **overrides
    )
    return VaultBackend(settings, credential)


def secret(name: str, version: str = "") -> ObjectSpec:
    return ObjectSpec(index=0, name=name, type="secret", alias=name, version=version)


async def test_fetches_latest_and_pinned_secret_versions(vault: FakeVault, credential) -> None:
    first = vault.set_secret("db", "one")
    vault.set_secret("db", "two")
    backend = make_backend(vault, credential)
    latest = await backend.fetch(secret("db"))
    pinned = await backend.fetch(secret("db", first))
    assert isinstance(latest, SecretMaterial) and latest.value == "two"
    assert isinstance(pinned, SecretMaterial) and pinned.value == "one" and pinned.info.version == first
    assert "two" not in repr(latest)  # values stay out of reprs, and so out of logs and tracebacks


async def test_authentication_goes_through_the_challenge_and_the_authority(vault: FakeVault, credential) -> None:
    vault.set_secret("db", "v")
    vault.clear_requests()
    await make_backend(vault, credential).fetch(secret("db"))
    log = [(r["method"], r["status"], r["path"].split("?")[0]) for r in vault.requests()]
    assert log[0] == ("GET", 401, "/secrets/db/")
    assert log[1][0:2] == ("POST", 200) and log[1][2].endswith("/oauth2/v2.0/token")
    assert log[2] == ("GET", 200, "/secrets/db/")


async def test_fetches_a_key_as_public_jwk(vault: FakeVault, credential) -> None:
    created = KeyClient(vault.vault_url, credential, **sdk_options(vault)).create_ec_key("sig", curve="P-256")
    material = await make_backend(vault, credential).fetch(ObjectSpec(0, "sig", "key", "sig"))
    assert isinstance(material, KeyMaterial)
    assert material.kty == "EC" and material.crv == "P-256" and material.x == created.key.x


async def test_many_objects_are_fetched_concurrently_up_to_the_bound(vault: FakeVault, credential) -> None:
    for i in range(16):
        vault.set_secret(f"s{i}", str(i))
    backend = make_backend(vault, credential, concurrency=8)
    await backend.fetch(secret("s0"))  # authenticate once, outside the timing
    vault.add_fault(latency_ms=200, path=r"^/secrets/")
    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        for i in range(16):
            nursery.start_soon(backend.fetch, secret(f"s{i}"))
    elapsed = trio.current_time() - start
    assert elapsed < 16 * 0.2 / 2  # far from serial
    assert elapsed >= 2 * 0.2  # bounded: 16 requests at 8 at a time take at least two rounds


@pytest.mark.parametrize(
    ("status", "error"),
    [(403, AccessDenied), (429, Throttled), (503, VaultUnavailable), (500, VaultUnavailable)],
)
async def test_http_failures_become_domain_errors_naming_the_object(
    vault: FakeVault, credential, status: int, error: type[Exception]
) -> None:
    vault.set_secret("db", "v")
    backend = make_backend(vault, credential)
    await backend.fetch(secret("db"))
    vault.add_fault(status=status, path=r"^/secrets/db")
    with pytest.raises(error) as info:
        await backend.fetch(secret("db"))
    assert "'db'" in str(info.value) and "\n" not in str(info.value)
    if status == 403:
        assert "Key Vault Secrets User" in str(info.value)


async def test_missing_and_disabled_objects(vault: FakeVault, credential) -> None:
    vault.set_secret("off", "v")
    vault.set_enabled("secrets", "off", enabled=False)
    backend = make_backend(vault, credential)
    with pytest.raises(ObjectNotFound, match="'nope' was not found"):
        await backend.fetch(secret("nope"))
    with pytest.raises(ObjectDisabled, match="'off' is disabled"):
        await backend.fetch(secret("off"))


async def test_a_wrong_client_id_is_an_authentication_failure(vault: FakeVault) -> None:
    vault.set_secret("db", "v")
    wrong = WorkloadIdentityCredential(
        tenant_id=vault.tenant_id,
        client_id="00000000-0000-0000-0000-00000000dead",
        token_file_path=str(vault.token_file),
        authority=vault.authority_host,
        connection_verify=str(vault.ca_file),
    )
    with pytest.raises(AuthenticationFailed) as info:
        await make_backend(vault, wrong).fetch(secret("db"))
    assert "'db'" in str(info.value) and "\n" not in str(info.value)


async def test_an_unreachable_vault_is_reported_quickly(credential, tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once the socket closes
    settings = BackendSettings(vault_url=f"https://127.0.0.1:{port}/", emulator=True, retry_total=0)
    with trio.fail_after(10), pytest.raises(VaultUnavailable, match="cannot reach the vault"):
        await VaultBackend(settings, credential).fetch(secret("db"))

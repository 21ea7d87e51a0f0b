"""Fixtures shared by every test: a running fake Key Vault and SDK clients pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.identity import WorkloadIdentityCredential

from kvfs.fakevault import FakeVault


@pytest.fixture(autouse=True)
def _forget_vault_challenges() -> None:
    """Each test starts as a new process would: the SDK knowing no vault's auth challenge.

    The Key Vault packages cache challenges per host:port for the whole process; a fake vault that
    gets a port an earlier test's vault had would otherwise skip the 401 round that tests expect.
    """
    from azure.keyvault.certificates._shared import http_challenge_cache as certificates
    from azure.keyvault.keys._shared import http_challenge_cache as keys
    from azure.keyvault.secrets._shared import http_challenge_cache as secrets

    for cache in (secrets, keys, certificates):
        cache.clear()


@pytest.fixture
def vault(tmp_path: Path) -> Iterator[FakeVault]:
    with FakeVault(state_dir=tmp_path / "vault") as fv:
        yield fv


@pytest.fixture
def credential(vault: FakeVault) -> Iterator[WorkloadIdentityCredential]:
    """The real workload-identity credential, talking to the fake authority."""
    cred = WorkloadIdentityCredential(
        tenant_id=vault.tenant_id,
        client_id=vault.client_id,
        token_file_path=str(vault.token_file),
        authority=vault.authority_host,
        connection_verify=str(vault.ca_file),
    )
    yield cred
    cred.close()


def sdk_options(vault: FakeVault) -> dict[str, object]:
    """Options every test SDK client needs for the fake: its CA, and no challenge-resource check."""
    return {"verify_challenge_resource": False, "connection_verify": str(vault.ca_file), "retry_total": 0}

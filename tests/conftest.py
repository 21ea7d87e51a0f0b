"""Fixtures shared by every test: a running fake Key Vault and SDK clients pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.identity import WorkloadIdentityCredential

from kvfs.fakevault import FakeVault


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

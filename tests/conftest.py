"""Fixtures shared by every test: a running fake Key Vault and SDK clients pointed at it; the fake
Kubernetes API server and the real kubectl."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from azure.identity import WorkloadIdentityCredential

from kvfs.fakevault import FakeVault
from tests.fakekube import DEFAULT_NAMESPACE, DEFAULT_TOKEN, FakeKubeAPI, kubectl, running_fake_kube


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


# -- Kubernetes: the fake API server, kvfs's kubeconfig, and the real kubectl as an administrator ----------

ADMIN_TOKEN = "admin-token"
ADMIN_USER = "kubernetes-admin"


@pytest.fixture
def kube(tmp_path: Path) -> Iterator[FakeKubeAPI]:
    """The fake API server; kvfs's service account may get/create/patch Secrets in ``DEFAULT_NAMESPACE``."""
    with running_fake_kube(tmp_path / "kube") as api:
        api.add_token(ADMIN_TOKEN, ADMIN_USER)
        api.allow(ADMIN_USER, "*", "*", ("*",))
        yield api


@pytest.fixture
def kubeconfig(kube: FakeKubeAPI, tmp_path: Path) -> Path:
    """kvfs's kubeconfig (its service account's token, no namespace: kvfs is told one)."""
    return kube.write_kubeconfig(tmp_path / "kvfs-kubeconfig", token=DEFAULT_TOKEN)


@pytest.fixture
def admin_kubectl(kube: FakeKubeAPI, tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """The real kubectl as a cluster administrator, in ``DEFAULT_NAMESPACE``."""
    config = kube.write_kubeconfig(tmp_path / "admin-kubeconfig", token=ADMIN_TOKEN, namespace=DEFAULT_NAMESPACE)

    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return kubectl(config, *args, home=tmp_path / "kubectl-home", stdin=stdin)

    return run

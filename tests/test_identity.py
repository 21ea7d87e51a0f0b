"""Which credential a class selects, and where its authority comes from."""

from __future__ import annotations

from pathlib import Path

import pytest
from azure.identity import DefaultAzureCredential, ManagedIdentityCredential, WorkloadIdentityCredential

from kvfs.config import ProviderClass
from kvfs.config.clouds import cloud_for, vault_url
from kvfs.errors import ConfigError
from kvfs.vault.identity import authority_host, build_credential

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"


def klass(**fields: object) -> ProviderClass:
    return ProviderClass(name="t", namespace="default", keyvault_name="kv", tenant_id=TENANT, **fields)


def test_client_id_selects_workload_identity(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("header.payload.signature")
    credential = build_credential(klass(client_id="abc"), {"AZURE_FEDERATED_TOKEN_FILE": str(token)})
    assert isinstance(credential, WorkloadIdentityCredential)


def test_workload_identity_without_a_token_file_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="AZURE_FEDERATED_TOKEN_FILE"):
        build_credential(klass(client_id="abc"), {})
    with pytest.raises(ConfigError, match="no such file"):
        build_credential(klass(client_id="abc"), {"AZURE_FEDERATED_TOKEN_FILE": "/nonexistent/token"})


def test_vm_managed_identity_and_the_default_chain() -> None:
    assert isinstance(build_credential(klass(use_vm_managed_identity=True), {}), ManagedIdentityCredential)
    assert isinstance(
        build_credential(klass(use_vm_managed_identity=True, user_assigned_identity_id="uai"), {}),
        ManagedIdentityCredential,
    )
    assert isinstance(build_credential(klass(), {}), DefaultAzureCredential)


@pytest.mark.parametrize(
    ("cloud", "authority", "vault"),
    [
        ("AzurePublicCloud", "https://login.microsoftonline.com", "https://kv.vault.azure.net/"),
        ("AzureUSGovernmentCloud", "https://login.microsoftonline.us", "https://kv.vault.usgovcloudapi.net/"),
        ("azurechinacloud", "https://login.chinacloudapi.cn", "https://kv.vault.azure.cn/"),
    ],
)
def test_cloud_name_selects_authority_and_vault_suffix(cloud: str, authority: str, vault: str) -> None:
    assert authority_host(klass(cloud_name=cloud), {}) == authority
    found = cloud_for(cloud)
    assert found is not None and vault_url("kv", found) == vault


def test_the_environment_authority_wins() -> None:
    env = {"AZURE_AUTHORITY_HOST": "https://127.0.0.1:8443/"}
    assert authority_host(klass(cloud_name="AzureChinaCloud"), env) == "https://127.0.0.1:8443"

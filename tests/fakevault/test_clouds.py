"""Other clouds (the vault's resource) and a vault that names another tenant in its challenge."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import ManagedIdentityCredential
from azure.keyvault.secrets import SecretClient

from kvfs.fakevault import FakeVault

from .conftest import client_options, imds_call, jwt_parts, raw_call, use_fake_imds, workload_credential

pytestmark = pytest.mark.timeout(30)

CLOUDS = {
    "AzureUSGovernmentCloud": "https://vault.usgovcloudapi.net",
    "AzureChinaCloud": "https://vault.azure.cn",
    "AzureStackCloud": "https://vault.local.azurestack.external",
}
OTHER_TENANT = "e3f1a2b4-c5d6-4e7f-8a9b-0c1d2e3f4a5b"


@pytest.fixture(params=list(CLOUDS.values()), ids=list(CLOUDS))
def cloud_vault(request: pytest.FixtureRequest) -> Iterator[FakeVault]:
    with FakeVault(resource=request.param) as fv:
        yield fv


def test_the_challenge_names_the_clouds_resource(cloud_vault: FakeVault) -> None:
    fv = cloud_vault
    response = raw_call(fv, "GET", "/secrets/x?api-version=7.5")
    assert response.status == 401
    assert response.headers["www-authenticate"] == (
        f'Bearer authorization="{fv.authority_host}/{fv.tenant_id}", resource="{fv.resource}"'
    )


def test_workload_identity_in_another_cloud(cloud_vault: FakeVault) -> None:
    fv = cloud_vault
    fv.set_secret("sovereign", "ok")
    credential = workload_credential(fv)
    with SecretClient(fv.vault_url, credential, **client_options(fv)) as client:
        assert client.get_secret("sovereign").value == "ok"  # the SDK takes the scope from the challenge
    assert jwt_parts(credential.get_token(f"{fv.resource}/.default").token)[1]["aud"] == fv.resource
    with pytest.raises(ClientAuthenticationError, match="AADSTS1002012"):
        credential.get_token("https://vault.azure.net/.default")  # the public cloud's scope is refused


def test_managed_identity_in_another_cloud(cloud_vault: FakeVault, monkeypatch: pytest.MonkeyPatch) -> None:
    fv = cloud_vault
    use_fake_imds(fv, monkeypatch)
    fv.set_secret("sovereign", "ok")
    with SecretClient(fv.vault_url, ManagedIdentityCredential(), **client_options(fv)) as client:
        assert client.get_secret("sovereign").value == "ok"
    public = imds_call(fv, "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://vault.azure.net")
    assert public.status == 400 and public.body["error"] == "invalid_resource"


def test_a_trailing_slash_on_the_resource_is_dropped() -> None:
    with FakeVault(resource="https://vault.azure.cn/") as fv:
        assert fv.resource == "https://vault.azure.cn"
        assert (
            raw_call(fv, "GET", "/secrets/x?api-version=7.5")
            .headers["www-authenticate"]
            .endswith('resource="https://vault.azure.cn"')
        )


def test_a_public_cloud_token_is_refused_by_another_clouds_vault(cloud_vault: FakeVault) -> None:
    # White box: no public way issues a token for another audience than the vault's, which is the point.
    token = cloud_vault._authority.issue(resource="https://vault.azure.net").token
    response = raw_call(cloud_vault, "GET", "/secrets/x?api-version=7.5", headers={"Authorization": f"Bearer {token}"})
    assert response.status == 401
    assert response.body["error"]["message"] == "AKV10022: Invalid token: the token audience is invalid."


def test_the_challenge_can_name_another_tenant() -> None:
    with FakeVault(challenge_tenant=OTHER_TENANT) as fv:
        assert fv.challenge_tenant == OTHER_TENANT
        response = raw_call(fv, "GET", "/secrets/x?api-version=7.5")
        assert response.headers["www-authenticate"] == (
            f'Bearer authorization="{fv.authority_host}/{OTHER_TENANT}", resource="https://vault.azure.net"'
        )
        fv.set_secret("elsewhere", "x")
        refused = f"not configured to acquire tokens for tenant {OTHER_TENANT}"
        client = SecretClient(fv.vault_url, workload_credential(fv), **client_options(fv))
        with client, pytest.raises(ClientAuthenticationError, match=refused):
            client.get_secret("elsewhere")
        allowed = workload_credential(fv, additionally_allowed_tenants=["*"])
        client = SecretClient(fv.vault_url, allowed, **client_options(fv))
        with client, pytest.raises(ClientAuthenticationError, match="AADSTS90002"):
            client.get_secret("elsewhere")
        token_requests = [r for r in fv.requests() if r["method"] == "POST"]
        assert token_requests == [{"method": "POST", "path": f"/{OTHER_TENANT}/oauth2/v2.0/token", "status": 400}]

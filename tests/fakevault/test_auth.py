"""Authentication against the fake: the real challenge flow, the real workload-identity credential."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import ClientSecretCredential, WorkloadIdentityCredential
from azure.keyvault.secrets import SecretClient
from azure.keyvault.secrets._shared import http_challenge_cache

from kvfs.fakevault import FakeVault

from .conftest import client_options, raw_call, workload_credential

pytestmark = pytest.mark.timeout(30)

SCOPE = "https://vault.azure.net/.default"


def test_challenge_then_token_then_retry(fv: FakeVault, secrets_client: SecretClient) -> None:
    http_challenge_cache.clear()  # a reused port must not skip the challenge
    fv.set_secret("greeting", "hello")
    assert secrets_client.get_secret("greeting").value == "hello"
    log = [(r["method"], r["path"].split("?")[0], r["status"]) for r in fv.requests()]
    token_path = f"/{fv.tenant_id}/oauth2/v2.0/token"
    assert log == [
        ("GET", "/secrets/greeting/", 401),
        ("POST", token_path, 200),
        ("GET", "/secrets/greeting/", 200),
    ]


def test_unauthenticated_request_gets_challenge(fv: FakeVault) -> None:
    response = raw_call(fv, "GET", "/secrets/anything/?api-version=7.5")
    assert response.status == 401
    assert response.headers["www-authenticate"] == (
        f'Bearer authorization="{fv.authority_host}/{fv.tenant_id}", resource="https://vault.azure.net"'
    )
    assert response.body["error"]["code"] == "Unauthorized"
    assert "retry-after" not in response.headers


class _ForgedCredential:
    """A credential that hands out a token the fake never issued."""

    def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
        forged = "eyJhbGciOiJIUzI1NiJ9.eyJhdWQiOiJodHRwczovL3ZhdWx0LmF6dXJlLm5ldCJ9.c2lnbmF0dXJl"
        return AccessToken(forged, int(time.time()) + 3600)


def test_forged_token_refused(fv: FakeVault, fake_client_factory) -> None:
    fv.set_secret("guarded", "x")
    client = fake_client_factory(_ForgedCredential())
    with pytest.raises(ClientAuthenticationError) as excinfo:
        client.get_secret("guarded")
    assert excinfo.value.status_code == 401
    assert {r["status"] for r in fv.requests()} == {401}


def test_token_from_another_fake_refused(fv: FakeVault, fake_client_factory) -> None:
    with FakeVault() as other:
        other_cred = workload_credential(other)
        token = other_cred.get_token(SCOPE, tenant_id=other.tenant_id).token

    class _Replay:
        def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
            return AccessToken(token, int(time.time()) + 3600)

    with pytest.raises(ClientAuthenticationError):
        fake_client_factory(_Replay()).get_secret("whatever")


def test_bad_assertion_refused(fv: FakeVault, tmp_path: Path) -> None:
    bogus = tmp_path / "bogus-token"
    bogus.write_text("not-a-service-account-token")
    cred = workload_credential(fv, token_file_path=str(bogus))
    with pytest.raises(ClientAuthenticationError) as excinfo:
        cred.get_token(SCOPE)
    assert "AADSTS700211" in str(excinfo.value)
    assert [r["status"] for r in fv.requests()] == [401]


def test_wrong_tenant_refused(fv: FakeVault) -> None:
    cred = workload_credential(fv, tenant_id="00000000-0000-0000-0000-000000000000")
    with pytest.raises(ClientAuthenticationError) as excinfo:
        cred.get_token(SCOPE)
    assert "AADSTS90002" in str(excinfo.value)
    assert fv.requests()[-1]["status"] == 400


def test_wrong_client_refused(fv: FakeVault) -> None:
    cred = workload_credential(fv, client_id="11111111-1111-1111-1111-111111111111")
    with pytest.raises(ClientAuthenticationError) as excinfo:
        cred.get_token(SCOPE)
    assert "AADSTS700016" in str(excinfo.value)


def test_wrong_scope_refused(fv: FakeVault, wi_credential: WorkloadIdentityCredential) -> None:
    with pytest.raises(ClientAuthenticationError):
        wi_credential.get_token("https://storage.azure.com/.default")


def test_workload_identity_from_environment(fv: FakeVault, monkeypatch: pytest.MonkeyPatch) -> None:
    env = fv.workload_identity_env()
    assert set(env) == {
        "AZURE_TENANT_ID",
        "AZURE_CLIENT_ID",
        "AZURE_FEDERATED_TOKEN_FILE",
        "AZURE_AUTHORITY_HOST",
        "REQUESTS_CA_BUNDLE",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    fv.set_secret("from-env", "ok")
    credential = WorkloadIdentityCredential()  # everything from the environment, CA from REQUESTS_CA_BUNDLE
    with SecretClient(fv.vault_url, credential, verify_challenge_resource=False, retry_total=0) as client:
        assert client.get_secret("from-env").value == "ok"


def test_token_file_has_no_trailing_newline(fv: FakeVault) -> None:
    text = fv.token_file.read_text()
    assert text == text.strip()
    assert text.count(".") == 2  # JWT-shaped, like a projected service-account token


def test_rotated_token_file_still_works(fv: FakeVault) -> None:
    fv.rotate_federated_token()
    cred = workload_credential(fv)
    assert cred.get_token(SCOPE).token


def test_msal_client_secret_credential(fv: FakeVault) -> None:
    fv.set_secret("via-msal", "ok")
    cred = ClientSecretCredential(
        fv.tenant_id,
        fv.client_id,
        fv.client_secret,
        authority=fv.authority_host,
        disable_instance_discovery=True,
        connection_verify=str(fv.ca_file),
    )
    with SecretClient(fv.vault_url, cred, **client_options(fv)) as client:
        assert client.get_secret("via-msal").value == "ok"
    paths = [r["path"] for r in fv.requests()]
    assert f"/{fv.tenant_id}/v2.0/.well-known/openid-configuration" in paths

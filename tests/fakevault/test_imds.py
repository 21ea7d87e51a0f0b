"""The fake IMDS: azure-identity's ManagedIdentityCredential against it, its answers, faults and lifecycle."""

from __future__ import annotations

import http.client
import time

import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import CredentialUnavailableError, ManagedIdentityCredential
from azure.keyvault.secrets import SecretClient

from kvfs.fakevault import FakeVault

from .conftest import client_options, imds_call, jwt_parts, raw_call, use_fake_imds

pytestmark = pytest.mark.timeout(30)

SCOPE = "https://vault.azure.net/.default"
TOKEN = "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://vault.azure.net"
UA_CLIENT_ID = "3c1d2e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f"


@pytest.fixture
def imds_env(fv: FakeVault, monkeypatch: pytest.MonkeyPatch) -> None:
    use_fake_imds(fv, monkeypatch)


def mi_credential(**kwargs: object) -> ManagedIdentityCredential:
    return ManagedIdentityCredential(retry_backoff_factor=0.01, **kwargs)


def imds_log(fv: FakeVault) -> list[tuple[str, int]]:
    return [(r["path"], r["status"]) for r in fv.requests() if r["path"].startswith("/metadata/")]


@pytest.mark.usefixtures("imds_env")
def test_system_assigned_identity_reads_a_secret(fv: FakeVault) -> None:
    fv.set_secret("on-a-vm", "ok")
    with SecretClient(fv.vault_url, mi_credential(), **client_options(fv)) as client:
        assert client.get_secret("on-a-vm").value == "ok"
    log = [(r["method"], r["path"].split("?")[0], r["status"]) for r in fv.requests()]
    assert log == [
        ("GET", "/secrets/on-a-vm/", 401),
        ("GET", "/metadata/identity/oauth2/token", 200),
        ("GET", "/secrets/on-a-vm/", 200),
    ]


def test_token_answer_is_shaped_like_imds(fv: FakeVault) -> None:
    started = int(time.time())
    response = imds_call(fv, TOKEN)
    assert response.status == 200
    body = response.body
    assert set(body) == {
        "access_token",
        "client_id",
        "expires_in",
        "expires_on",
        "ext_expires_in",
        "not_before",
        "refresh_token",
        "resource",
        "token_type",
    }
    assert all(isinstance(value, str) for value in body.values())  # numbers as strings, as real IMDS sends them
    assert body["refresh_token"] == "" and body["token_type"] == "Bearer"
    assert body["resource"] == "https://vault.azure.net"
    assert body["expires_in"] == body["ext_expires_in"] == "3600"
    assert started <= int(body["not_before"]) <= time.time()
    assert 3600 <= int(body["expires_on"]) - int(body["not_before"]) <= 3601
    system = fv.add_managed_identity()  # already assigned: returns it
    assert system.system_assigned and body["client_id"] == system.client_id
    _, claims = jwt_parts(body["access_token"])
    assert claims["tid"] == fv.tenant_id and claims["appid"] == system.client_id and claims["oid"] == system.object_id
    fv.set_secret("raw", "ok")
    answer = raw_call(
        fv, "GET", "/secrets/raw?api-version=7.5", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert answer.status == 200 and answer.body["value"] == "ok"


@pytest.mark.usefixtures("imds_env")
@pytest.mark.parametrize(
    ("config", "parameter"),
    [("client_id", "client_id"), ("object_id", "object_id"), ("resource_id", "msi_res_id")],
)
def test_user_assigned_identity_by_each_id(fv: FakeVault, config: str, parameter: str) -> None:
    identity = fv.add_managed_identity(UA_CLIENT_ID)
    assert not identity.system_assigned and identity in fv.managed_identities()
    value = {"client_id": identity.client_id, "object_id": identity.object_id, "resource_id": identity.resource_id}
    fv.set_secret("ua", "ok")
    credential = mi_credential(identity_config={config: value[config]})
    with SecretClient(fv.vault_url, credential, **client_options(fv)) as client:
        assert client.get_secret("ua").value == "ok"
    [(path, status)] = imds_log(fv)
    assert status == 200 and f"&{parameter}={value[config]}" in path
    token = credential.get_token(SCOPE).token
    assert jwt_parts(token)[1]["appid"] == UA_CLIENT_ID


@pytest.mark.usefixtures("imds_env")
def test_unknown_client_id_is_identity_not_found(fv: FakeVault) -> None:
    with pytest.raises(CredentialUnavailableError, match=r"\(invalid_request\) Identity not found"):
        mi_credential(client_id=UA_CLIENT_ID).get_token(SCOPE)
    response = imds_call(fv, f"{TOKEN}&client_id={UA_CLIENT_ID}")
    assert response.status == 400
    assert response.body == {"error": "invalid_request", "error_description": "Identity not found"}


def test_missing_metadata_header(fv: FakeVault) -> None:
    for headers in ({}, {"Metadata": "True"}):
        response = imds_call(fv, TOKEN, headers=headers)
        assert response.status == 400
        assert response.body == {
            "error": "invalid_request",
            "error_description": "Required metadata header not specified",
        }


@pytest.mark.usefixtures("imds_env")
def test_another_resource_is_refused_with_entras_error(fv: FakeVault) -> None:
    response = imds_call(
        fv, "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://storage.azure.com"
    )
    assert response.status == 400
    assert response.body["error"] == "invalid_resource" and response.body["error_codes"] == [500011]
    assert response.body["error_description"].startswith(
        f"AADSTS500011: The resource principal named https://storage.azure.com was not found in the tenant named "
        f"{fv.tenant_id}."
    )
    with pytest.raises(CredentialUnavailableError, match="invalid_resource"):
        mi_credential().get_token("https://storage.azure.com/.default")


def test_a_trailing_slash_on_the_resource_is_echoed(fv: FakeVault) -> None:
    response = imds_call(fv, TOKEN + "/")
    assert response.status == 200 and response.body["resource"] == "https://vault.azure.net/"
    fv.set_secret("slash", "ok")
    bearer = {"Authorization": f"Bearer {response.body['access_token']}"}
    assert raw_call(fv, "GET", "/secrets/slash?api-version=7.5", headers=bearer).status == 200


def test_which_identity_without_an_id(fv: FakeVault) -> None:
    fv.clear_managed_identities()
    assert fv.managed_identities() == []
    assert imds_call(fv, TOKEN).body == {"error": "invalid_request", "error_description": "Identity not found"}
    only = fv.add_managed_identity(UA_CLIENT_ID)
    assert imds_call(fv, TOKEN).body["client_id"] == only.client_id  # a lone user-assigned identity is the default
    fv.add_managed_identity("9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d")
    response = imds_call(fv, TOKEN)
    assert response.status == 400
    assert response.body == {
        "error": "invalid_request",
        "error_description": "Multiple user assigned identities exist, please specify the clientId / resourceId of "
        "the identity in the token request",
    }
    system = fv.add_managed_identity(None)
    assert imds_call(fv, TOKEN).body["client_id"] == system.client_id  # the system-assigned one wins


@pytest.mark.usefixtures("imds_env")
@pytest.mark.parametrize(("status", "count"), [(404, 2), (410, 1), (429, 2), (500, 2)])
def test_faults_are_retried_by_the_credential(fv: FakeVault, status: int, count: int) -> None:
    fv.add_fault(status=status, count=count, path=r"^/metadata")
    assert mi_credential().get_token(SCOPE).token
    assert [s for _, s in imds_log(fv)] == [status] * count + [200]
    assert fv.faults() == []


def test_fault_answers_on_imds(fv: FakeVault) -> None:
    fv.add_fault(status=429, retry_after=2, count=1, path=r"^/metadata")
    response = imds_call(fv, TOKEN)
    assert response.status == 429 and response.headers["retry-after"] == "2"
    assert response.body["error"] == "too_many_requests"
    assert imds_call(fv, TOKEN).status == 200


def test_a_vault_fault_does_not_touch_imds(fv: FakeVault) -> None:
    fv.add_fault(status=503, path=r"^/secrets/")
    assert imds_call(fv, TOKEN).status == 200


@pytest.mark.usefixtures("imds_env")
def test_persistent_outage_fails_the_credential(fv: FakeVault) -> None:
    fv.add_fault(status=503, path=r"^/metadata")
    with pytest.raises(ClientAuthenticationError):
        mi_credential(retry_total=1).get_token(SCOPE)
    assert [s for _, s in imds_log(fv)] == [503, 503]


def test_imds_stops_and_starts_with_the_vault(fv: FakeVault) -> None:
    url = fv.imds_url
    assert url.startswith("http://127.0.0.1:")
    fv.stop()
    port = int(url.rsplit(":", 1)[1])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    with pytest.raises(ConnectionRefusedError):
        conn.request("GET", TOKEN, headers={"Metadata": "true"})
    conn.close()
    fv.start()
    assert fv.imds_url == url
    assert imds_call(fv, TOKEN).status == 200


def test_other_paths_and_methods(fv: FakeVault) -> None:
    assert imds_call(fv, "/metadata/instance?api-version=2021-02-01").status == 404
    assert imds_call(fv, "/_fake/requests").status == 404  # the hooks live on the vault's port only


def test_workload_identity_variables_bypass_imds(fv: FakeVault, monkeypatch: pytest.MonkeyPatch) -> None:
    """Why the tests above unset them: with these three set, ManagedIdentityCredential is workload identity."""
    for name, value in fv.workload_identity_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", fv.imds_url)
    assert ManagedIdentityCredential(client_id=fv.client_id).get_token(SCOPE).token
    assert imds_log(fv) == []
    assert [r["path"] for r in fv.requests()] == [f"/{fv.tenant_id}/oauth2/v2.0/token"]

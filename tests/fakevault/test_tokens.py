"""Access tokens outside the token endpoint (for stand-in tools) and a vault whose signing key changes."""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path

import pytest
from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import AzureCliCredential, WorkloadIdentityCredential
from azure.keyvault.secrets import SecretClient

from kvfs.fakevault import FakeVault
from tests.helpers import wait_for

from .conftest import HookResponse, client_options, imds_call, jwt_parts, raw_call, statuses, workload_credential

pytestmark = pytest.mark.timeout(30)

IMDS_TOKEN = "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://vault.azure.net"


class StaticCredential:
    """Hands out one fixed token, as a tool's output would."""

    def __init__(self, token: str, expires_on: int) -> None:
        self._token = AccessToken(token, expires_on)

    def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
        return self._token


def vault_get(fv: FakeVault, token: str, name: str = "x") -> HookResponse:
    return raw_call(fv, "GET", f"/secrets/{name}?api-version=7.5", headers={"Authorization": f"Bearer {token}"})


def test_a_minted_token_reads_a_secret(fv: FakeVault) -> None:
    fv.set_secret("minted", "ok")
    token, expires_on = fv.mint_access_token()
    assert 3599 <= expires_on - time.time() <= 3601
    _, claims = jwt_parts(token)
    assert claims["appid"] == fv.client_id and claims["tid"] == fv.tenant_id and claims["exp"] == expires_on
    with SecretClient(fv.vault_url, StaticCredential(token, expires_on), **client_options(fv)) as client:
        assert client.get_secret("minted").value == "ok"


def test_a_short_minted_token_expires(fv: FakeVault) -> None:
    fv.set_secret("brief", "ok")
    token, expires_on = fv.mint_access_token(client_id="5d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a", lifetime=1)
    assert jwt_parts(token)[1]["appid"] == "5d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a"
    assert expires_on - time.time() <= 2
    assert vault_get(fv, token, "brief").status == 200
    refused = wait_for(lambda: (r := vault_get(fv, token, "brief")).status != 200 and r, timeout=10, interval=0.2)
    assert (
        refused.status == 401 and refused.body["error"]["message"] == "AKV10022: Invalid token: the token is expired."
    )


def test_a_stand_in_az_with_minted_tokens(fv: FakeVault, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    token, expires_on = fv.mint_access_token()
    printed = {
        "accessToken": token,
        "expiresOn": datetime.fromtimestamp(expires_on).strftime("%Y-%m-%d %H:%M:%S.%f"),
        "expires_on": expires_on,
        "subscription": "5f0e3d1c-2b4a-4c6d-8e9f-a0b1c2d3e4f5",
        "tenant": fv.tenant_id,
        "tokenType": "Bearer",
    }
    calls = tmp_path / "az-calls"
    az = tmp_path / "bin" / "az"
    az.parent.mkdir()
    az.write_text(f"#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{calls}'\ncat <<'JSON'\n{json.dumps(printed)}\nJSON\n")
    az.chmod(0o755)
    monkeypatch.setenv("PATH", f"{az.parent}:/usr/bin:/bin")
    fv.set_secret("via-az", "ok")
    with SecretClient(fv.vault_url, AzureCliCredential(), **client_options(fv)) as client:
        assert client.get_secret("via-az").value == "ok"
    assert calls.read_text().splitlines() == [
        f"account get-access-token --output json --resource https://vault.azure.net --tenant {fv.tenant_id}"
    ]


def test_access_token_hook(fv: FakeVault) -> None:
    response = raw_call(fv, "POST", "/_fake/access-token", {"lifetime": 60})
    assert response.status == 200 and set(response.body) == {"access_token", "expires_on"}
    assert 59 <= response.body["expires_on"] - time.time() <= 61
    assert vault_get(fv, response.body["access_token"]).status == 404  # authenticated; no such secret
    assert raw_call(fv, "POST", "/_fake/access-token", {"client_id": "x"}).status == 200
    assert raw_call(fv, "POST", "/_fake/access-token").status == 200  # no body: all defaults
    assert raw_call(fv, "POST", "/_fake/access-token", {"lifetme": 60}).status == 400
    assert raw_call(fv, "POST", "/_fake/access-token", {"lifetime": "60"}).status == 400
    assert raw_call(fv, "GET", "/_fake/access-token").status == 405
    assert fv.requests()[:1] == [{"method": "GET", "path": "/secrets/x?api-version=7.5", "status": 404}]


def test_rotating_the_signing_key_refuses_earlier_tokens(
    fv: FakeVault, secrets_client: SecretClient, wi_credential: WorkloadIdentityCredential
) -> None:
    fv.set_secret("keyed", "v")
    assert secrets_client.get_secret("keyed").value == "v"  # the client now holds a token
    minted, _ = fv.mint_access_token()
    from_imds = imds_call(fv, IMDS_TOKEN).body["access_token"]
    fv.rotate_signing_key()
    challenge = f'Bearer authorization="{fv.authority_host}/{fv.tenant_id}", resource="https://vault.azure.net"'
    for token in (minted, from_imds):
        refused = vault_get(fv, token, "keyed")
        assert refused.status == 401 and refused.headers["www-authenticate"] == challenge
        assert refused.body["error"]["message"] == "AKV10022: Invalid token: the token signature is invalid."
    fv.clear_requests()
    with pytest.raises(ClientAuthenticationError) as excinfo:
        secrets_client.get_secret("keyed")
    assert excinfo.value.status_code == 401 and excinfo.value.response.request.url.startswith(fv.vault_url)
    # The SDK drops its token on the 401 and asks the credential again, which answers from its cache.
    assert statuses(fv) == [("GET", 401), ("GET", 401)]
    # New tokens are signed with the new key, wherever they come from.
    with SecretClient(fv.vault_url, workload_credential(fv), **client_options(fv)) as fresh:
        assert fresh.get_secret("keyed").value == "v"
    assert vault_get(fv, imds_call(fv, IMDS_TOKEN).body["access_token"], "keyed").status == 200
    assert vault_get(fv, fv.mint_access_token()[0], "keyed").status == 200


def test_signing_key_survives_a_restart(fv: FakeVault) -> None:
    token, _ = fv.mint_access_token()
    fv.stop()
    fv.start()
    assert vault_get(fv, token).status == 404  # still accepted: only rotate_signing_key() changes the key

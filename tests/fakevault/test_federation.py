"""Federated credentials checked as Entra checks them: time range, issuer, subject and audience, signature."""

from __future__ import annotations

import os
import re
import stat
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.keyvault.secrets import SecretClient

from kvfs.fakevault import FEDERATED_SUBJECT, FEDERATION_AUDIENCE, FakeVault, FederatedCredential
from tests.helpers import wait_for

from .conftest import HookResponse, client_options, jwt_parts, raw_call, workload_credential

pytestmark = pytest.mark.timeout(30)

SCOPE = "https://vault.azure.net/.default"
OTHER_ISSUER = "https://oidc.prod-aks.azure.com/0f2b1c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d/"
OTHER_SUBJECT = "system:serviceaccount:payments:api"
FEDERATION_DOCS = "https://learn.microsoft.com/entra/workload-id/workload-identity-federation"
ENTRA_BODY_KEYS = {"error", "error_description", "error_codes", "timestamp", "trace_id", "correlation_id", "error_uri"}
ISO = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z"


def exchange(fv: FakeVault, assertion: str) -> HookResponse:
    """The token request WorkloadIdentityCredential sends, raw, to read the whole answer."""
    form = urlencode(
        {
            "client_assertion": assertion,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_id": fv.client_id,
            "grant_type": "client_credentials",
            "scope": SCOPE,
        }
    )
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    return raw_call(fv, "POST", f"/{fv.tenant_id}/oauth2/v2.0/token", form.encode(), headers)


def description(response: HookResponse, code: int) -> str:
    """The AADSTS text without its prefix and trace suffix, after checking the body's real shape."""
    body = response.body
    assert set(body) == ENTRA_BODY_KEYS
    assert body["error_codes"] == [code]
    assert body["error_uri"].endswith(f"/error?code={code}")
    suffix = f" Trace ID: {body['trace_id']} Correlation ID: {body['correlation_id']} Timestamp: {body['timestamp']}"
    assert body["error_description"].startswith(f"AADSTS{code}: ") and body["error_description"].endswith(suffix)
    return body["error_description"].removeprefix(f"AADSTS{code}: ").removesuffix(suffix)


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


def test_default_credential_and_token_file(fv: FakeVault) -> None:
    assert fv.oidc_issuer == f"https://127.0.0.1:{fv.port}/oidc"
    assert fv.federated_credentials() == [FederatedCredential(fv.oidc_issuer, FEDERATED_SUBJECT, FEDERATION_AUDIENCE)]
    header, claims = jwt_parts(fv.token_file.read_text())
    assert header["alg"] == "ES256" and header["kid"]
    assert claims["iss"] == fv.oidc_issuer and claims["sub"] == FEDERATED_SUBJECT
    assert claims["aud"] == [FEDERATION_AUDIENCE]  # a list, as in a projected service-account token
    assert claims["kubernetes.io"]["namespace"] == "kvfs"
    assert claims["kubernetes.io"]["serviceaccount"]["name"] == "kvfs"
    assert claims["exp"] - claims["iat"] > 300 * 86400  # the start-up token outlives any demo


def test_written_token_reads_a_secret(fv: FakeVault) -> None:
    fv.set_secret("federated", "ok")
    token = fv.write_federated_token(lifetime=600)
    assert fv.token_file.read_text() == token
    _, claims = jwt_parts(token)
    assert 599 <= claims["exp"] - time.time() <= 601
    cred = workload_credential(fv)
    with SecretClient(fv.vault_url, cred, **client_options(fv)) as client:
        assert client.get_secret("federated").value == "ok"


def test_write_is_atomic_like_kubelet(fv: FakeVault, tmp_path: Path) -> None:
    before = fv.token_file.stat().st_ino
    fv.write_federated_token()
    assert fv.token_file.stat().st_ino != before  # a new file renamed over the old one, not rewritten in place
    assert stat.S_IMODE(fv.token_file.stat().st_mode) == 0o600
    elsewhere = tmp_path / "projected" / "token"
    elsewhere.parent.mkdir()
    token = fv.write_federated_token(elsewhere, subject=OTHER_SUBJECT)
    assert elsewhere.read_text() == token
    assert os.listdir(elsewhere.parent) == ["token"]  # no temporary file left behind
    assert jwt_parts(token)[1]["sub"] == OTHER_SUBJECT


def test_expired_assertion_is_700024(fv: FakeVault) -> None:
    token = fv.write_federated_token(lifetime=-60)
    _, claims = jwt_parts(token)
    response = exchange(fv, token)
    assert response.status == 401 and response.body["error"] == "invalid_client"
    text = description(response, 700024)
    match = re.fullmatch(
        rf"Client assertion is not within its valid time range\. Current time: ({ISO}), assertion valid from "
        rf"({ISO}), expiry time of assertion ({ISO})\. Review the documentation at "
        r"https://learn\.microsoft\.com/entra/identity-platform/certificate-credentials \.",
        text,
    )
    assert match is not None, text
    assert match[2] == iso(claims["nbf"]) and match[3] == iso(claims["exp"])
    with pytest.raises(ClientAuthenticationError, match="AADSTS700024"):
        workload_credential(fv).get_token(SCOPE)


def test_not_yet_valid_assertion_is_700024(fv: FakeVault) -> None:
    not_before = int(time.time()) + 3600
    response = exchange(fv, fv.write_federated_token(not_before=not_before))
    assert response.status == 401
    assert f"assertion valid from {iso(not_before)}," in description(response, 700024)


def test_a_short_lived_token_expires(fv: FakeVault) -> None:
    token = fv.write_federated_token(lifetime=1)
    assert exchange(fv, token).status == 200
    expired = wait_for(lambda: (r := exchange(fv, token)).status != 200 and r, timeout=10, interval=0.2, what="expiry")
    assert expired.status == 401 and expired.body["error_codes"] == [700024]


def test_unknown_issuer_is_700211(fv: FakeVault) -> None:
    response = exchange(fv, fv.write_federated_token(issuer=OTHER_ISSUER))
    assert response.status == 401 and response.body["error"] == "invalid_client"
    assert description(response, 700211) == (
        f"No matching federated identity record found for presented assertion issuer '{OTHER_ISSUER}'. Please check "
        "your federated identity credential Subject, Audience and Issuer against the presented assertion. "
        f"{FEDERATION_DOCS}"
    )


@pytest.mark.parametrize(
    ("subject", "audience"),
    [(OTHER_SUBJECT, FEDERATION_AUDIENCE), (FEDERATED_SUBJECT, "api://SomethingElse")],
    ids=["subject", "audience"],
)
def test_known_issuer_other_subject_or_audience_is_70021(fv: FakeVault, subject: str, audience: str) -> None:
    response = exchange(fv, fv.write_federated_token(subject=subject, audience=audience))
    assert response.status == 400 and response.body["error"] == "invalid_request"
    assert description(response, 70021) == (
        f"No matching federated identity record found for presented assertion. Assertion Issuer: '{fv.oidc_issuer}'. "
        f"Assertion Subject: '{subject}'. Assertion Audience: '{audience}'. {FEDERATION_DOCS}"
    )
    with pytest.raises(ClientAuthenticationError, match="AADSTS70021"):
        workload_credential(fv).get_token(SCOPE)


def test_an_added_credential_is_accepted(fv: FakeVault) -> None:
    fv.add_federated_credential(OTHER_ISSUER, OTHER_SUBJECT)
    fv.set_secret("other-cluster", "ok")
    fv.write_federated_token(issuer=OTHER_ISSUER, subject=OTHER_SUBJECT)
    with SecretClient(fv.vault_url, workload_credential(fv), **client_options(fv)) as client:
        assert client.get_secret("other-cluster").value == "ok"
    assert len(fv.federated_credentials()) == 2


def test_an_added_audience_is_accepted(fv: FakeVault) -> None:
    fv.add_federated_credential(fv.oidc_issuer, FEDERATED_SUBJECT, "api://AzureADTokenExchangeUSGov")
    assert exchange(fv, fv.write_federated_token(audience="api://AzureADTokenExchangeUSGov")).status == 200


def test_cleared_credentials_refuse_every_assertion(fv: FakeVault) -> None:
    fv.clear_federated_credentials()
    assert fv.federated_credentials() == []
    response = exchange(fv, fv.token_file.read_text())
    assert response.status == 401 and response.body["error_codes"] == [700211]
    fv.add_federated_credential(fv.oidc_issuer, FEDERATED_SUBJECT)
    assert exchange(fv, fv.token_file.read_text()).status == 200


def test_a_token_from_another_cluster_is_7000272(fv: FakeVault, tmp_path: Path) -> None:
    with FakeVault() as other:
        foreign = other.write_federated_token(tmp_path / "foreign", issuer=fv.oidc_issuer)
    kid = jwt_parts(foreign)[0]["kid"]
    response = exchange(fv, foreign)
    assert response.status == 401 and response.body["error"] == "invalid_client"
    assert description(response, 7000272) == (
        f"The certificate with identifier {kid} used to sign the federated credential could not be found in the "
        f"metadata of identity provider {fv.oidc_issuer}. Please validate that your Identity Provider's metadata "
        "exposes the key used to sign the incoming token."
    )


def test_a_forged_signature_is_700027(fv: FakeVault) -> None:
    genuine = fv.write_federated_token()
    other_signature = fv.write_federated_token(lifetime=60).rsplit(".", 1)[1]
    response = exchange(fv, genuine.rsplit(".", 1)[0] + "." + other_signature)
    assert response.status == 401 and response.body["error_codes"] == [700027]


def test_a_trailing_newline_is_tolerated(fv: FakeVault) -> None:
    assert exchange(fv, fv.token_file.read_text() + "\n").status == 200


def test_earlier_tokens_stay_valid_after_rotation(fv: FakeVault) -> None:
    first = fv.token_file.read_text()
    second = fv.rotate_federated_token()
    assert second != first and fv.token_file.read_text() == second
    assert exchange(fv, first).status == 200 and exchange(fv, second).status == 200


def test_the_vault_refuses_a_federated_token_as_bearer(fv: FakeVault) -> None:
    response = raw_call(
        fv, "GET", "/secrets/x/?api-version=7.5", headers={"Authorization": f"Bearer {fv.token_file.read_text()}"}
    )
    assert response.status == 401 and "www-authenticate" in response.headers

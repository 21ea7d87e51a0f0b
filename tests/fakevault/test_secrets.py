"""Secrets through the real SDK: set, get, versions, paging, properties, disabled and missing versions."""

from __future__ import annotations

import re

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.core.rest import HttpRequest
from azure.identity import WorkloadIdentityCredential
from azure.keyvault.certificates import CertificateClient
from azure.keyvault.keys import KeyClient
from azure.keyvault.secrets import SecretClient

from kvfs.fakevault import FakeVault, FakeVaultError
from tests.pki import make_chain

from .conftest import raw_call, statuses

pytestmark = pytest.mark.timeout(30)

HEX32 = re.compile(r"^[0-9a-f]{32}$")


def test_set_and_get(fv: FakeVault, secrets_client: SecretClient) -> None:
    created = secrets_client.set_secret("db-password", "s3cret", content_type="text/plain", tags={"env": "test"})
    assert HEX32.match(created.properties.version)
    assert created.id == f"{fv.vault_url}secrets/db-password/{created.properties.version}"
    assert created.properties.vault_url.rstrip("/") == fv.vault_url.rstrip("/")
    got = secrets_client.get_secret("db-password")
    assert got.value == "s3cret"
    assert got.properties.content_type == "text/plain"
    assert got.properties.tags == {"env": "test"}
    assert got.properties.enabled is True
    assert got.properties.recovery_level == "Recoverable+Purgeable"
    assert got.properties.created_on is not None and got.properties.updated_on is not None
    assert got.properties.managed is None


def test_names_are_case_insensitive(fv: FakeVault, secrets_client: SecretClient) -> None:
    fv.set_secret("MixedCase", "v")
    got = secrets_client.get_secret("mixedcase")
    assert got.name == "MixedCase"


def test_versions(fv: FakeVault, secrets_client: SecretClient) -> None:
    v1 = fv.set_secret("rotating", "one")
    v2 = secrets_client.set_secret("rotating", "two").properties.version
    assert HEX32.match(v1) and v1 != v2
    assert secrets_client.get_secret("rotating").value == "two"
    assert secrets_client.get_secret("rotating", v1).value == "one"
    versions = [p.version for p in secrets_client.list_properties_of_secret_versions("rotating")]
    assert versions == [v1, v2]


def test_list_pages_follow_next_link(fv: FakeVault, secrets_client: SecretClient) -> None:
    names = {f"paged-{i:02d}" for i in range(30)}
    for name in names:
        fv.set_secret(name, "x")
    listed = list(secrets_client.list_properties_of_secrets())
    assert {p.name for p in listed} == names
    assert all(p.version is None for p in listed)  # list items describe the object, id without version
    pages = [r["path"] for r in fv.requests() if r["path"].startswith("/secrets?") and r["status"] == 200]
    assert len(pages) == 2
    assert "$skiptoken=" in pages[1] and "maxresults=25" in pages[1]


def test_maxresults_honoured(fv: FakeVault, secrets_client: SecretClient) -> None:
    for i in range(23):
        fv.set_secret(f"small-{i:02d}", "x")
    pager = secrets_client.list_properties_of_secrets(max_page_size=10).by_page()
    sizes = [len(list(page)) for page in pager]
    assert sizes == [10, 10, 3]
    pages = [r["path"] for r in fv.requests() if r["path"].startswith("/secrets?") and r["status"] == 200]
    assert len(pages) == 3 and all("maxresults=10" in p for p in pages)


def test_maxresults_over_limit_refused(fv: FakeVault, secrets_client: SecretClient) -> None:
    with pytest.raises(HttpResponseError) as excinfo:
        list(secrets_client.list_properties_of_secrets(max_page_size=26))
    assert excinfo.value.status_code == 400


def test_version_paging(fv: FakeVault, secrets_client: SecretClient) -> None:
    made = [fv.set_secret("many", str(i)) for i in range(27)]
    listed = [p.version for p in secrets_client.list_properties_of_secret_versions("many")]
    assert listed == made
    pages = [r["path"] for r in fv.requests() if r["path"].startswith("/secrets/many/versions") and r["status"] == 200]
    assert len(pages) == 2 and "$skiptoken=" in pages[1]


def test_update_properties_and_disabled_get(fv: FakeVault, secrets_client: SecretClient) -> None:
    version = fv.set_secret("switch", "on")
    updated = secrets_client.update_secret_properties("switch", enabled=False, content_type="x/y", tags={"a": "b"})
    assert updated.enabled is False and updated.content_type == "x/y" and updated.tags == {"a": "b"}
    assert updated.version == version
    for pinned in (None, version):
        with pytest.raises(HttpResponseError) as excinfo:
            secrets_client.get_secret("switch", pinned)
        error = excinfo.value
        assert error.status_code == 403
        assert error.error.code == "Forbidden"
        assert error.error.message == "Operation get is not allowed on a disabled secret."
        assert error.error.innererror == {"code": "SecretDisabled"}
    listed = [p for p in secrets_client.list_properties_of_secrets() if p.name == "switch"]
    assert listed[0].enabled is False  # listing still shows it
    fv.set_enabled("secrets", "switch", enabled=True)
    assert secrets_client.get_secret("switch").value == "on"


def test_disabled_direct_and_pinned(fv: FakeVault, secrets_client: SecretClient) -> None:
    old = fv.set_secret("pinned", "old")
    fv.set_secret("pinned", "new")
    fv.set_enabled("secrets", "pinned", old, enabled=False)
    assert secrets_client.get_secret("pinned").value == "new"
    with pytest.raises(HttpResponseError) as excinfo:
        secrets_client.get_secret("pinned", old)
    assert excinfo.value.status_code == 403
    assert "retry-after" not in {k.lower() for k in excinfo.value.response.headers}


def test_not_found(fv: FakeVault, secrets_client: SecretClient) -> None:
    with pytest.raises(ResourceNotFoundError) as excinfo:
        secrets_client.get_secret("missing")
    assert excinfo.value.error.code == "SecretNotFound"
    fv.set_secret("present", "x")
    with pytest.raises(ResourceNotFoundError):
        secrets_client.get_secret("present", "0" * 32)
    assert list(secrets_client.list_properties_of_secret_versions("missing")) == []  # 200, as Key Vault answers


def test_malformed_body_is_bad_parameter(fv: FakeVault, secrets_client: SecretClient) -> None:
    secrets_client.set_secret("warm-up", "x")  # authenticate first
    for body in (b"not json", b"[1, 2]", b'{"value": 5}', b'{"value": "x", "tags": {"a": 1}}'):
        request = HttpRequest(
            "PUT",
            f"{fv.vault_url}secrets/bad?api-version=7.5",
            content=body,
            headers={"Content-Type": "application/json"},
        )
        response = secrets_client.send_request(request)
        assert response.status_code == 400, body
        assert response.json()["error"]["code"] == "BadParameter"


def test_invalid_name_and_missing_api_version(
    fv: FakeVault, secrets_client: SecretClient, wi_credential: WorkloadIdentityCredential
) -> None:
    secrets_client.set_secret("warm-up", "x")
    response = secrets_client.send_request(HttpRequest("GET", f"{fv.vault_url}secrets/bad_name/?api-version=7.5"))
    assert response.status_code == 400
    # The SDK always adds api-version, so check its absence with a plain request and a real token.
    token = wi_credential.get_token("https://vault.azure.net/.default").token
    raw = raw_call(fv, "GET", "/secrets/warm-up/", headers={"Authorization": f"Bearer {token}"})
    assert raw.status == 400
    assert "api-version" in raw.body["error"]["message"]
    raw = raw_call(
        fv, "GET", "/secrets/warm-up/?api-version=0.1-anything", headers={"Authorization": f"Bearer {token}"}
    )
    assert raw.status == 200 and raw.body["value"] == "x"


def test_delete_and_purge(fv: FakeVault, secrets_client: SecretClient) -> None:
    fv.set_secret("doomed", "x")
    deleted = secrets_client.begin_delete_secret("doomed").result()
    assert deleted.name == "doomed" and deleted.recovery_id
    with pytest.raises(ResourceNotFoundError):
        secrets_client.get_secret("doomed")
    with pytest.raises(HttpResponseError) as excinfo:
        secrets_client.set_secret("doomed", "again")
    assert excinfo.value.status_code == 409
    secrets_client.purge_deleted_secret("doomed")
    assert secrets_client.set_secret("doomed", "again").value == "again"


def test_deleted_secrets_are_listed_and_recovered_with_every_version(
    fv: FakeVault, secrets_client: SecretClient
) -> None:
    for name in ("gone-a", "gone-b", "gone-c"):
        fv.set_secret(name, f"{name} v1")
    fv.set_secret("gone-b", "gone-b v2")
    fv.set_secret("kept", "x")
    for name in ("gone-a", "gone-b", "gone-c"):
        secrets_client.begin_delete_secret(name).result()
    listed = list(secrets_client.list_deleted_secrets(max_page_size=2))  # paged: 2, then 1
    assert [d.name for d in listed] == ["gone-a", "gone-b", "gone-c"]
    assert all(d.recovery_id and d.deleted_date and d.scheduled_purge_date for d in listed)
    recovered = secrets_client.begin_recover_deleted_secret("gone-b").result()
    assert recovered.name == "gone-b"
    assert secrets_client.get_secret("gone-b").value == "gone-b v2"
    assert len(list(secrets_client.list_properties_of_secret_versions("gone-b"))) == 2
    assert [d.name for d in secrets_client.list_deleted_secrets()] == ["gone-a", "gone-c"]
    with pytest.raises(ResourceNotFoundError):
        secrets_client.begin_recover_deleted_secret("kept").result()  # not deleted: nothing to recover


def test_a_recovered_certificate_brings_its_key_and_secret_back(
    fv: FakeVault, certs_client: CertificateClient, secrets_client: SecretClient, keys_client: KeyClient
) -> None:
    fv.import_certificate("web", make_chain("p256").pfx())
    certs_client.begin_delete_certificate("web").result()
    assert [c.name for c in certs_client.list_deleted_certificates()] == ["web"]
    assert [k.name for k in keys_client.list_deleted_keys()] == ["web"]
    certs_client.begin_recover_deleted_certificate("web").result()
    assert certs_client.get_certificate("web").name == "web"
    assert secrets_client.get_secret("web").value and keys_client.get_key("web").name == "web"
    assert list(certs_client.list_deleted_certificates()) == []


def test_backup_and_restore_bring_back_every_version_only_into_a_free_name(
    fv: FakeVault, secrets_client: SecretClient, certs_client: CertificateClient, keys_client: KeyClient
) -> None:
    fv.set_secret("saved", "v1")
    fv.set_secret("saved", "v2")
    blob = secrets_client.backup_secret("saved")
    assert isinstance(blob, bytes) and b"v2" not in blob  # opaque, no value inside
    with pytest.raises(HttpResponseError) as taken:
        secrets_client.restore_secret_backup(blob)
    assert taken.value.status_code == 409  # the name exists
    secrets_client.begin_delete_secret("saved").result()
    secrets_client.purge_deleted_secret("saved")
    assert secrets_client.restore_secret_backup(blob).name == "saved"
    assert secrets_client.get_secret("saved").value == "v2"
    assert len(list(secrets_client.list_properties_of_secret_versions("saved"))) == 2
    with pytest.raises(HttpResponseError) as corrupt:
        secrets_client.restore_secret_backup(b"not a backup of this fake")
    assert corrupt.value.status_code == 400
    with pytest.raises(HttpResponseError):
        keys_client.restore_key_backup(blob)  # a secret's blob is not a key's

    fv.import_certificate("web", make_chain("p256").pfx())
    cert_blob = certs_client.backup_certificate("web")
    certs_client.begin_delete_certificate("web").result()
    certs_client.purge_deleted_certificate("web")
    assert certs_client.restore_certificate_backup(cert_blob).name == "web"
    assert secrets_client.get_secret("web").value and keys_client.get_key("web").name == "web"


def test_direct_api_errors(fv: FakeVault) -> None:
    with pytest.raises(FakeVaultError) as excinfo:
        fv.set_secret("bad name", "x")
    assert excinfo.value.status == 400
    with pytest.raises(FakeVaultError) as excinfo:
        fv.set_enabled("secrets", "nope", enabled=False)
    assert excinfo.value.status == 404
    with pytest.raises(TypeError):
        fv.set_enabled("secrets", "nope")
    with pytest.raises(ValueError, match="collection"):
        fv.set_enabled("blobs", "nope", enabled=False)


def test_large_value_refused(fv: FakeVault, secrets_client: SecretClient) -> None:
    with pytest.raises(HttpResponseError) as excinfo:
        secrets_client.set_secret("huge", "x" * (25 * 1024 + 1))
    assert excinfo.value.status_code == 400
    assert statuses(fv, "/secrets/huge")[-1] == ("PUT", 400)

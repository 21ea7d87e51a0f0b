"""Certificate issuers and contacts through the real SDK's CertificateClient, as Key Vault answers them."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.keyvault.certificates import AdministratorContact, CertificateClient, CertificateContact

from kvfs.fakevault import FakeVault


def test_issuer_lifecycle_keeps_its_password_in_the_vault(fv: FakeVault, certs_client: CertificateClient) -> None:
    admins = [AdministratorContact(first_name="Ada", last_name="Lovelace", email="ada@example.test", phone="1")]
    created = certs_client.create_issuer(
        "ca-one", "DigiCert", account_id="acct-1", password="issuer-pass-9f3a", organization_id="org-7",
        admin_contacts=admins, enabled=True,
    )  # fmt: skip
    assert created.id == f"{fv.vault_url}certificates/issuers/ca-one"
    assert (created.provider, created.account_id, created.organization_id) == ("DigiCert", "acct-1", "org-7")
    assert created.password is None
    assert [(a.first_name, a.email) for a in created.admin_contacts or []] == [("Ada", "ada@example.test")]
    fetched = certs_client.get_issuer("CA-ONE")  # names are case-insensitive
    assert (fetched.name, fetched.account_id, fetched.enabled) == ("ca-one", "acct-1", True)
    assert fetched.password is None

    updated = certs_client.update_issuer("ca-one", enabled=False, account_id="acct-2")
    assert (updated.enabled, updated.account_id, updated.provider, updated.organization_id) == (
        False, "acct-2", "DigiCert", "org-7",
    )  # fmt: skip
    assert updated.updated_on >= created.updated_on and updated.created_on == created.created_on

    deleted = certs_client.delete_issuer("ca-one")
    assert deleted.provider == "DigiCert"
    with pytest.raises(ResourceNotFoundError) as raised:
        certs_client.get_issuer("ca-one")
    assert "not found" in str(raised.value.message).lower()


def test_issuers_list_by_name_across_pages(certs_client: CertificateClient) -> None:
    names = [f"issuer-{i:02d}" for i in range(30)]  # more than a page of 25
    for name in reversed(names):
        certs_client.create_issuer(name, "Test")
    listed = list(certs_client.list_properties_of_issuers())
    assert [i.name for i in listed] == names
    assert {i.provider for i in listed} == {"Test"}


def test_an_issuer_needs_a_provider(certs_client: CertificateClient) -> None:
    with pytest.raises(HttpResponseError) as raised:
        certs_client.update_issuer("never-made", provider="Test")
    assert raised.value.status_code == 404
    with pytest.raises(HttpResponseError) as raised:
        certs_client.create_issuer("bad name!", "Test")
    assert raised.value.status_code == 400


def test_contacts_set_get_and_delete(certs_client: CertificateClient) -> None:
    with pytest.raises(ResourceNotFoundError):
        certs_client.get_contacts()
    wanted = [
        CertificateContact(email="a@example.test", name="A", phone="1"),
        CertificateContact(email="b@example.test", name="B"),
    ]
    assert [(c.email, c.name, c.phone) for c in certs_client.set_contacts(wanted)] == [
        ("a@example.test", "A", "1"), ("b@example.test", "B", None),
    ]  # fmt: skip
    assert [c.email for c in certs_client.get_contacts()] == ["a@example.test", "b@example.test"]
    assert [c.email for c in certs_client.delete_contacts()] == ["a@example.test", "b@example.test"]
    with pytest.raises(ResourceNotFoundError) as raised:
        certs_client.get_contacts()
    assert "not found" in str(raised.value.message).lower()
    with pytest.raises(HttpResponseError) as refused:
        certs_client.set_contacts([CertificateContact(name="no email")])
    assert refused.value.status_code == 400

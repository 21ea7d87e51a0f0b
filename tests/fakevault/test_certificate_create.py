"""Certificate creation through the real SDK's CertificateClient: the Self issuer, the Unknown issuer's pending
operation with its CSR, merge and cancel, policy updates and key reuse, as Key Vault answers them."""

from __future__ import annotations

import base64
import datetime
import ipaddress

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.keyvault.certificates import (
    CertificateClient,
    CertificateContentType,
    CertificateOperation,
    CertificatePolicy,
    KeyCurveName,
    KeyType,
    WellKnownIssuerNames,
)
from azure.keyvault.secrets import SecretClient
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .conftest import Chain, make_chain


def _cert(cer: bytes) -> x509.Certificate:
    return x509.load_der_x509_certificate(cer)


def test_self_issued_certificate_has_the_policy_and_its_key_in_the_secret(
    certs_client: CertificateClient, secrets_client: SecretClient
) -> None:
    poller = certs_client.begin_create_certificate("self-made", CertificatePolicy.get_default())
    created = poller.result()
    leaf = _cert(created.cer)
    assert leaf.subject.rfc4514_string() == "CN=DefaultPolicy"
    assert leaf.issuer == leaf.subject
    leaf.verify_directly_issued_by(leaf)  # self-signed, and the signature holds
    ekus = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(ekus) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    usage = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.key_encipherment and not usage.key_cert_sign
    lifetime = leaf.not_valid_after_utc - leaf.not_valid_before_utc
    assert 360 <= lifetime.days <= 370

    policy = created.policy
    assert (policy.issuer_name, policy.key_type, policy.key_size, policy.validity_in_months) == (
        "Self",
        "RSA",
        2048,
        12,
    )
    assert policy.content_type == CertificateContentType.pkcs12
    operation = certs_client.get_certificate_operation("self-made")
    assert operation.status == "completed"
    assert operation.target.endswith("/certificates/self-made")
    csr = x509.load_der_x509_csr(operation.csr)
    assert csr.public_key().public_numbers() == leaf.public_key().public_numbers()  # type: ignore[union-attr]

    secret = secrets_client.get_secret("self-made")
    key, cert, _ = pkcs12.load_key_and_certificates(base64.b64decode(secret.value or ""), None)
    assert cert == leaf
    assert isinstance(key, rsa.RSAPrivateKey)
    assert key.public_key().public_numbers() == leaf.public_key().public_numbers()  # type: ignore[union-attr]


def test_names_key_type_and_pem_content_follow_the_policy(
    certs_client: CertificateClient, secrets_client: SecretClient
) -> None:
    policy = CertificatePolicy(
        issuer_name=WellKnownIssuerNames.self,
        subject="CN=api.example.test,O=Example",
        san_dns_names=["api.example.test", "www.example.test"],
        san_ip_addresses=["10.0.0.1", "::1"],
        san_uris=["spiffe://example.test/api"],
        san_emails=["ops@example.test"],
        san_user_principal_names=["svc@example.test"],
        key_type=KeyType.ec,
        key_curve_name=KeyCurveName.p_384,
        content_type=CertificateContentType.pem,
        validity_in_months=3,
        enhanced_key_usage=["1.3.6.1.5.5.7.3.1"],
        key_usage=["digitalSignature"],
    )
    created = certs_client.begin_create_certificate("names", policy).result()
    leaf = _cert(created.cer)
    assert leaf.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Example"
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["api.example.test", "www.example.test"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("10.0.0.1"), ipaddress.ip_address("::1")]
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == ["spiffe://example.test/api"]
    assert san.get_values_for_type(x509.RFC822Name) == ["ops@example.test"]
    assert [o.value for o in san.get_values_for_type(x509.OtherName)] == [b"\x0c\x10svc@example.test"]
    public = leaf.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey) and public.curve.name == "secp384r1"
    assert isinstance(leaf.signature_hash_algorithm, hashes.SHA384)

    returned = certs_client.get_certificate_policy("names")
    assert set(returned.san_ip_addresses or []) == {"10.0.0.1", "::1"}
    assert returned.san_user_principal_names == ["svc@example.test"]
    assert (returned.key_type, returned.key_curve_name, returned.validity_in_months) == ("EC", "P-384", 3)

    pem = secrets_client.get_secret("names").value or ""
    assert pem.startswith("-----BEGIN PRIVATE KEY-----")
    assert x509.load_pem_x509_certificate(pem.encode()) == leaf


def test_a_certificate_of_subject_alternative_names_only_has_an_empty_subject(certs_client: CertificateClient) -> None:
    policy = CertificatePolicy(issuer_name=WellKnownIssuerNames.self, san_ip_addresses=["192.0.2.7"])
    leaf = _cert(certs_client.begin_create_certificate("ip-only", policy).result().cer)
    assert len(leaf.subject) == 0
    assert leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).critical  # RFC 5280, 4.2.1.6


def test_reuse_key_keeps_the_key_across_versions(certs_client: CertificateClient) -> None:
    first = certs_client.begin_create_certificate("reuse", CertificatePolicy.get_default()).result()
    fresh = certs_client.begin_create_certificate("reuse", CertificatePolicy.get_default()).result()
    assert _cert(fresh.cer).public_key() != _cert(first.cer).public_key()
    reusing = CertificatePolicy(issuer_name="Self", subject="CN=DefaultPolicy", reuse_key=True)
    kept = certs_client.begin_create_certificate("reuse", reusing).result()
    assert _cert(kept.cer).public_key() == _cert(fresh.cer).public_key()
    assert kept.properties.version not in (first.properties.version, fresh.properties.version)
    assert len(list(certs_client.list_properties_of_certificate_versions("reuse"))) == 3


def test_policy_update_applies_to_the_next_version(certs_client: CertificateClient) -> None:
    certs_client.begin_create_certificate("evolving", CertificatePolicy.get_default()).result()
    policy = certs_client.get_certificate_policy("evolving")
    policy._key_type, policy._key_size, policy._key_curve_name = KeyType.ec, 256, KeyCurveName.p_256
    updated = certs_client.update_certificate_policy("evolving", policy)
    assert (updated.key_type, updated.key_size, updated.key_curve_name) == ("EC", 256, "P-256")
    assert updated.subject == "CN=DefaultPolicy"
    stored = certs_client.get_certificate_policy("evolving")
    assert (stored.key_type, stored.key_curve_name, stored.subject) == ("EC", "P-256", "CN=DefaultPolicy")
    renewed = certs_client.begin_create_certificate("evolving", stored).result()
    assert isinstance(_cert(renewed.cer).public_key(), ec.EllipticCurvePublicKey)


def _unknown_policy() -> CertificatePolicy:
    return CertificatePolicy(
        issuer_name=WellKnownIssuerNames.unknown,
        subject="CN=merged.example.test",
        san_dns_names=["merged.example.test"],
    )


def _sign_csr(csr: x509.CertificateSigningRequest, ca: Chain) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(csr.subject)
        .issuer_name(ca.ca.subject)
        .public_key(csr.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(ca.ca_key, hashes.SHA256())
    )


def test_unknown_issuer_waits_for_a_merge_of_the_signed_csr(
    certs_client: CertificateClient, secrets_client: SecretClient, rsa_chain: Chain
) -> None:
    pending = certs_client.begin_create_certificate("to-merge", _unknown_policy()).result()
    assert isinstance(pending, CertificateOperation)
    assert pending.status == "inProgress"
    assert "merge" in (pending.status_details or "").lower()
    with pytest.raises(ResourceNotFoundError):
        certs_client.get_certificate("to-merge")  # no version until the merge
    assert certs_client.get_certificate_policy("to-merge").issuer_name == "Unknown"
    csr = x509.load_der_x509_csr(certs_client.get_certificate_operation("to-merge").csr)
    assert csr.is_signature_valid
    assert csr.subject.rfc4514_string() == "CN=merged.example.test"

    stranger = make_chain(rsa.generate_private_key(65537, 2048)).leaf
    with pytest.raises(HttpResponseError) as raised:
        certs_client.merge_certificate("to-merge", [stranger.public_bytes(serialization.Encoding.DER)])
    assert raised.value.status_code == 400
    assert "pending key" in str(raised.value.message)

    signed = _sign_csr(csr, rsa_chain)
    chain = [signed.public_bytes(serialization.Encoding.DER), rsa_chain.ca.public_bytes(serialization.Encoding.DER)]
    merged = certs_client.merge_certificate("to-merge", chain)
    assert _cert(merged.cer) == signed
    assert certs_client.get_certificate_operation("to-merge").status == "completed"
    key, cert, extra = pkcs12.load_key_and_certificates(
        base64.b64decode(secrets_client.get_secret("to-merge").value or ""), None
    )
    assert cert == signed and extra == [rsa_chain.ca]
    assert isinstance(key, rsa.RSAPrivateKey)
    message = b"the pending key signs"
    signature = key.sign(message, padding.PKCS1v15(), hashes.SHA256())
    signed.public_key().verify(signature, message, padding.PKCS1v15(), hashes.SHA256())  # type: ignore[union-attr,call-arg]


def test_a_pending_operation_can_be_cancelled_and_deleted(certs_client: CertificateClient) -> None:
    certs_client.begin_create_certificate("cancelled", _unknown_policy()).result()
    with pytest.raises(HttpResponseError) as raised:
        certs_client.begin_create_certificate("cancelled", _unknown_policy())
    assert raised.value.status_code == 409
    cancelled = certs_client.cancel_certificate_operation("cancelled")
    assert cancelled.cancellation_requested and cancelled.status == "cancelled"
    deleted = certs_client.delete_certificate_operation("cancelled")
    assert deleted.status == "cancelled"
    with pytest.raises(ResourceNotFoundError) as missing:
        certs_client.get_certificate_operation("cancelled")
    assert "not found" in str(missing.value.message).lower()


def test_issuers_the_fake_cannot_reach_fail_the_operation(certs_client: CertificateClient) -> None:
    certs_client.create_issuer("public-ca", "DigiCert", account_id="acct")
    policy = CertificatePolicy(issuer_name="public-ca", subject="CN=public.example.test")
    operation = certs_client.begin_create_certificate("from-ca", policy).result()
    assert isinstance(operation, CertificateOperation)
    assert operation.status == "failed"
    assert operation.error is not None and "DigiCert" in (operation.error.message or "")

    with pytest.raises(HttpResponseError) as raised:
        certs_client.begin_create_certificate("no-such", CertificatePolicy(issuer_name="nobody", subject="CN=x"))
    assert raised.value.status_code == 400
    assert "'nobody'" in str(raised.value.message)


@pytest.mark.parametrize(
    ("policy", "fragment"),
    [
        (CertificatePolicy(issuer_name="Self", subject="CN=x", key_type="RSA", key_size=1024), "key_props.key_size"),
        (CertificatePolicy(issuer_name="Self", subject="CN=x", validity_in_months=0), "validity_months"),
        (CertificatePolicy(issuer_name="Self", subject="not a name"), "x509_props.subject"),
        (CertificatePolicy(issuer_name="Self", san_ip_addresses=["10.0.0.300"]), "ipAddresses"),
        (CertificatePolicy(issuer_name="Self", subject="CN=x", key_usage=["everything"]), "key_usage"),
    ],
)
def test_bad_policies_are_refused_naming_the_field(
    certs_client: CertificateClient, policy: CertificatePolicy, fragment: str
) -> None:
    with pytest.raises(HttpResponseError) as raised:
        certs_client.begin_create_certificate("refused", policy)
    assert raised.value.status_code == 400
    assert fragment in str(raised.value.message)
    with pytest.raises(ResourceNotFoundError):
        certs_client.get_certificate_policy("refused")  # nothing was stored


def test_preserve_order_round_trips(certs_client: CertificateClient) -> None:
    created = certs_client.begin_create_certificate(
        "ordered", CertificatePolicy.get_default(), preserve_order=True
    ).result()
    assert created.properties.preserve_order is True

"""Certificates through the real SDK: PFX (legacy and AES/SHA-256 with a password) and PEM imports,
and the key and secret Key Vault derives from them."""

from __future__ import annotations

import base64
import hashlib

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.keyvault.certificates import CertificateClient, CertificateContentType, CertificatePolicy
from azure.keyvault.keys import KeyClient
from azure.keyvault.secrets import SecretClient
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from kvfs.fakevault import FakeVault

from .conftest import Chain

pytestmark = pytest.mark.timeout(30)


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def _public_der(key: object) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _pem(chain: Chain, *certs: x509.Certificate) -> bytes:
    key = chain.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    return key + b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def _check_derived(
    fv: FakeVault,
    name: str,
    chain: Chain,
    certs_client: CertificateClient,
    secrets_client: SecretClient,
    keys_client: KeyClient,
) -> tuple[str, str]:
    """Shared checks for any import; returns (secret content type, secret value)."""
    cert = certs_client.get_certificate(name)
    version = cert.properties.version
    assert cert.id == f"{fv.vault_url}certificates/{name}/{version}"
    assert cert.key_id == f"{fv.vault_url}keys/{name}/{version}"
    assert cert.secret_id == f"{fv.vault_url}secrets/{name}/{version}"
    assert cert.cer == _der(chain.leaf)
    assert cert.properties.x509_thumbprint == hashlib.sha1(_der(chain.leaf)).digest()
    assert int(cert.properties.expires_on.timestamp()) == int(chain.leaf.not_valid_after_utc.timestamp())

    secret = secrets_client.get_secret(name)
    assert secret.properties.version == version
    assert secret.properties.managed is True
    assert secret.properties.key_id == cert.key_id

    key = keys_client.get_key(name)
    assert key.properties.version == version and key.properties.managed is True
    assert key.key.d is None
    if isinstance(chain.key, rsa.RSAPrivateKey):
        assert int.from_bytes(key.key.n, "big") == chain.key.public_key().public_numbers().n
    return secret.properties.content_type, secret.value


def test_import_legacy_pfx(
    fv: FakeVault,
    rsa_chain: Chain,
    certs_client: CertificateClient,
    secrets_client: SecretClient,
    keys_client: KeyClient,
) -> None:
    pfx = pkcs12.serialize_key_and_certificates(
        b"legacy", rsa_chain.key, rsa_chain.leaf, [rsa_chain.ca], serialization.NoEncryption()
    )
    imported = certs_client.import_certificate("legacy", pfx)
    assert imported.cer == _der(rsa_chain.leaf)
    content_type, value = _check_derived(fv, "legacy", rsa_chain, certs_client, secrets_client, keys_client)
    assert content_type == "application/x-pkcs12"
    parsed = pkcs12.load_pkcs12(base64.b64decode(value), None)
    assert _public_der(parsed.key.public_key()) == _public_der(rsa_chain.key.public_key())
    assert _der(parsed.cert.certificate) == _der(rsa_chain.leaf)
    assert [_der(c.certificate) for c in parsed.additional_certs] == [_der(rsa_chain.ca)]


def test_import_modern_pfx_with_password(
    fv: FakeVault,
    ec_chain: Chain,
    certs_client: CertificateClient,
    secrets_client: SecretClient,
    keys_client: KeyClient,
) -> None:
    encryption = (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(50000)
        .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
        .hmac_hash(hashes.SHA256())
        .build(b"correct horse")
    )
    pfx = pkcs12.serialize_key_and_certificates(b"modern", ec_chain.key, ec_chain.leaf, [ec_chain.ca], encryption)
    with pytest.raises(HttpResponseError) as excinfo:
        certs_client.import_certificate("modern", pfx, password="wrong")
    assert excinfo.value.status_code == 400
    certs_client.import_certificate("modern", pfx, password="correct horse")
    content_type, value = _check_derived(fv, "modern", ec_chain, certs_client, secrets_client, keys_client)
    assert content_type == "application/x-pkcs12"
    parsed = pkcs12.load_pkcs12(base64.b64decode(value), None)  # stored without a password
    assert _public_der(parsed.key.public_key()) == _public_der(ec_chain.key.public_key())
    key = keys_client.get_key("modern")
    assert key.key.crv == "P-256"


def test_import_pem_keeps_chain_order(
    fv: FakeVault,
    rsa_chain: Chain,
    certs_client: CertificateClient,
    secrets_client: SecretClient,
    keys_client: KeyClient,
) -> None:
    policy = CertificatePolicy(content_type=CertificateContentType.pem)
    certs_client.import_certificate("pem-cert", _pem(rsa_chain, rsa_chain.leaf, rsa_chain.ca), policy=policy)
    content_type, value = _check_derived(fv, "pem-cert", rsa_chain, certs_client, secrets_client, keys_client)
    assert content_type == "application/x-pem-file"
    assert value.startswith("-----BEGIN PRIVATE KEY-----")
    key = serialization.load_pem_private_key(value.encode(), None)
    assert _public_der(key.public_key()) == _public_der(rsa_chain.key.public_key())
    assert [_der(c) for c in x509.load_pem_x509_certificates(value.encode())] == [
        _der(rsa_chain.leaf),
        _der(rsa_chain.ca),
    ]
    # CA first is kept as given; the leaf is still found by its key
    certs_client.import_certificate("ca-first", _pem(rsa_chain, rsa_chain.ca, rsa_chain.leaf), policy=policy)
    value = secrets_client.get_secret("ca-first").value
    assert [_der(c) for c in x509.load_pem_x509_certificates(value.encode())] == [
        _der(rsa_chain.ca),
        _der(rsa_chain.leaf),
    ]
    assert certs_client.get_certificate("ca-first").cer == _der(rsa_chain.leaf)


def test_pem_to_pkcs12_and_policy(fv: FakeVault, rsa_chain: Chain, certs_client: CertificateClient) -> None:
    policy = CertificatePolicy(content_type=CertificateContentType.pkcs12)
    certs_client.import_certificate("converted", _pem(rsa_chain, rsa_chain.leaf, rsa_chain.ca), policy=policy)
    got = certs_client.get_certificate_policy("converted")
    assert got.content_type == CertificateContentType.pkcs12
    assert got.key_type == "RSA" and got.key_size == 2048 and got.exportable is True
    assert got.subject == "CN=app.example.test"
    assert got.san_dns_names == ["app.example.test"]
    assert got.issuer_name == "Unknown"


def test_new_version_and_disable(
    fv: FakeVault,
    rsa_chain: Chain,
    certs_client: CertificateClient,
    secrets_client: SecretClient,
    keys_client: KeyClient,
) -> None:
    pem = _pem(rsa_chain, rsa_chain.leaf)
    first = fv.import_certificate("versioned", pem)
    second = certs_client.import_certificate("versioned", pem).properties.version
    assert first != second
    versions = [p.version for p in certs_client.list_properties_of_certificate_versions("versioned")]
    assert versions == [first, second]
    assert [p.version for p in secrets_client.list_properties_of_secret_versions("versioned")] == [first, second]
    certs_client.update_certificate_properties("versioned", second, enabled=False)
    # As Key Vault answers: the certificate and its key are returned disabled; only the secret is 403.
    certificate = certs_client.get_certificate("versioned")
    assert (certificate.properties.version, certificate.properties.enabled) == (second, False)
    assert keys_client.get_key("versioned").properties.enabled is False
    with pytest.raises(HttpResponseError) as excinfo:
        secrets_client.get_secret("versioned")
    assert excinfo.value.status_code == 403 and excinfo.value.error.innererror == {"code": "SecretDisabled"}
    fv.set_enabled("certificates", "versioned", enabled=True)
    assert secrets_client.get_secret("versioned").properties.version == second


def test_bad_imports(fv: FakeVault, rsa_chain: Chain, certs_client: CertificateClient) -> None:
    certs_only = rsa_chain.leaf.public_bytes(serialization.Encoding.PEM)
    for data in (b"not a certificate", certs_only, _pem(rsa_chain, rsa_chain.ca)):
        with pytest.raises(HttpResponseError) as excinfo:
            certs_client.import_certificate("bad", data)
        assert excinfo.value.status_code == 400
        assert excinfo.value.error.code == "BadParameter"
    with pytest.raises(ResourceNotFoundError) as missing:
        certs_client.get_certificate("bad")
    assert missing.value.error.code == "CertificateNotFound"


def test_certificate_name_clashes_with_plain_secret(fv: FakeVault, rsa_chain: Chain) -> None:
    fv.set_secret("taken", "plain")
    with pytest.raises(Exception, match="409"):
        fv.import_certificate("taken", _pem(rsa_chain, rsa_chain.leaf))

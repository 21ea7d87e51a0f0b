"""Key operations through the real SDK's CryptographyClient: the key stays in the fake, results check out
with the public key locally, and disabled keys and forbidden operations answer as Key Vault does."""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Callable

import pytest
from azure.core.exceptions import HttpResponseError
from azure.identity import WorkloadIdentityCredential
from azure.keyvault.keys import KeyClient
from azure.keyvault.keys.crypto import (
    CryptographyClient,
    EncryptionAlgorithm,
    KeyWrapAlgorithm,
    SignatureAlgorithm,
)
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, encode_dss_signature

from kvfs.fakevault import FakeVault

from .conftest import client_options, raw_call


@pytest.fixture
def crypto(fv: FakeVault, wi_credential: WorkloadIdentityCredential) -> Callable[[str], CryptographyClient]:
    def make(kid: str) -> CryptographyClient:
        return CryptographyClient(kid, wi_credential, **client_options(fv))

    return make


def rsa_public(key: object) -> rsa.RSAPublicKey:
    jwk = key.key  # type: ignore[attr-defined]
    return rsa.RSAPublicNumbers(int.from_bytes(jwk.e, "big"), int.from_bytes(jwk.n, "big")).public_key()


@pytest.mark.parametrize("alg", ["RS256", "PS256", "RS512", "PS384"])
def test_rsa_signatures_verify_with_the_public_key(
    fv: FakeVault, keys_client: KeyClient, crypto: Callable[[str], CryptographyClient], alg: str
) -> None:
    key = keys_client.create_rsa_key("signer", size=2048)
    digest_alg = {"256": hashes.SHA256(), "384": hashes.SHA384(), "512": hashes.SHA512()}[alg[2:]]
    digest = hashlib.new(digest_alg.name, b"kvfs").digest()
    result = crypto(key.id).sign(SignatureAlgorithm(alg), digest)
    pad = padding.PSS(padding.MGF1(digest_alg), digest_alg.digest_size) if alg.startswith("PS") else padding.PKCS1v15()
    rsa_public(key).verify(result.signature, digest, pad, Prehashed(digest_alg))  # raises if wrong
    assert result.key_id == key.id
    assert crypto(key.id).verify(SignatureAlgorithm(alg), digest, result.signature).is_valid
    assert not crypto(key.id).verify(SignatureAlgorithm(alg), digest, b"\0" * len(result.signature)).is_valid


@pytest.mark.parametrize(("curve", "alg", "digest_name"), [("P-256", "ES256", "sha256"), ("P-384", "ES384", "sha384")])
def test_ec_signatures_are_r_and_s_and_verify(
    fv: FakeVault,
    keys_client: KeyClient,
    crypto: Callable[[str], CryptographyClient],
    curve: str,
    alg: str,
    digest_name: str,
) -> None:
    key = keys_client.create_ec_key("ec-signer", curve=curve)
    digest = hashlib.new(digest_name, b"kvfs").digest()
    signature = crypto(key.id).sign(SignatureAlgorithm(alg), digest).signature
    size = len(signature) // 2
    jwk = key.key
    curve_obj = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1()}[curve]
    public = ec.EllipticCurvePublicNumbers(int.from_bytes(jwk.x, "big"), int.from_bytes(jwk.y, "big"), curve_obj)
    der = encode_dss_signature(int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big"))
    digest_alg = hashes.SHA256() if digest_name == "sha256" else hashes.SHA384()
    public.public_key().verify(der, digest, ec.ECDSA(Prehashed(digest_alg)))
    assert crypto(key.id).verify(SignatureAlgorithm(alg), digest, signature).is_valid


@pytest.mark.parametrize("alg", ["RSA-OAEP", "RSA-OAEP-256", "RSA1_5"])
def test_encrypt_decrypt_and_wrap_unwrap_round_trip(
    fv: FakeVault, keys_client: KeyClient, crypto: Callable[[str], CryptographyClient], alg: str
) -> None:
    key = keys_client.create_rsa_key("cipher", size=2048)
    client = crypto(key.id)
    plaintext = os.urandom(32)
    encrypted = client.encrypt(EncryptionAlgorithm(alg), plaintext)
    assert encrypted.ciphertext != plaintext
    assert client.decrypt(EncryptionAlgorithm(alg), encrypted.ciphertext).plaintext == plaintext
    wrapped = client.wrap_key(KeyWrapAlgorithm(alg), plaintext)
    assert client.unwrap_key(KeyWrapAlgorithm(alg), wrapped.encrypted_key).key == plaintext


def test_a_disabled_key_or_a_forbidden_operation_is_refused(
    fv: FakeVault, keys_client: KeyClient, crypto: Callable[[str], CryptographyClient]
) -> None:
    key = keys_client.create_rsa_key("limited", size=2048, key_operations=["verify"])
    with pytest.raises(HttpResponseError) as forbidden:
        crypto(key.id).sign(SignatureAlgorithm.rs256, hashlib.sha256(b"x").digest())
    assert forbidden.value.status_code == 403 and "not permitted" in str(forbidden.value.message)
    other = keys_client.create_ec_key("off", curve="P-256")
    keys_client.update_key_properties("off", other.properties.version, enabled=False)
    with pytest.raises(HttpResponseError) as off:
        crypto(other.id).sign(SignatureAlgorithm.es256, hashlib.sha256(b"x").digest())
    assert off.value.status_code == 403 and off.value.error.innererror == {"code": "KeyDisabled"}


def test_the_empty_version_route_signs_with_the_current_version(fv: FakeVault, keys_client: KeyClient) -> None:
    """The JavaScript SDK asks /keys/NAME//sign for the current version."""
    key = keys_client.create_ec_key("js", curve="P-256")
    token, _ = fv.mint_access_token()
    digest = hashlib.sha256(b"js").digest()
    body = {"alg": "ES256", "value": base64.urlsafe_b64encode(digest).rstrip(b"=").decode()}
    answer = raw_call(fv, "POST", "/keys/js//sign?api-version=7.5", body, {"Authorization": f"Bearer {token}",
                      "Content-Type": "application/json"})  # fmt: skip
    assert answer.status == 200 and answer.body["kid"] == key.id and len(answer.body["value"]) > 80

"""Keys through the real SDK: create RSA and EC, import JWKs (private parts never come back)."""

from __future__ import annotations

import re

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.keyvault.keys import JsonWebKey, KeyClient, KeyCurveName, KeyType
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from kvfs.fakevault import FakeVault

pytestmark = pytest.mark.timeout(30)

HEX32 = re.compile(r"^[0-9a-f]{32}$")


def _int(data: bytes) -> int:
    return int.from_bytes(data, "big")


def test_create_rsa(fv: FakeVault, keys_client: KeyClient) -> None:
    created = keys_client.create_rsa_key("signer", size=3072, tags={"use": "sign"})
    assert HEX32.match(created.properties.version)
    assert created.id == f"{fv.vault_url}keys/signer/{created.properties.version}"
    got = keys_client.get_key("signer")
    assert got.key_type == KeyType.rsa
    assert _int(got.key.n).bit_length() == 3072 and _int(got.key.e) == 65537
    assert got.key.d is None and got.key.p is None
    assert set(got.key_operations) >= {"sign", "verify"}
    assert got.properties.tags == {"use": "sign"}
    # the public key is usable: it is a real RSA key
    rsa.RSAPublicNumbers(_int(got.key.e), _int(got.key.n)).public_key()


@pytest.mark.parametrize(
    ("curve", "size"), [(KeyCurveName.p_256, 32), (KeyCurveName.p_384, 48), (KeyCurveName.p_521, 66)]
)
def test_create_ec(fv: FakeVault, keys_client: KeyClient, curve: KeyCurveName, size: int) -> None:
    keys_client.create_ec_key("ec-key", curve=curve)
    got = keys_client.get_key("ec-key")
    assert got.key_type == KeyType.ec and got.key.crv == curve
    assert len(got.key.x) == size and len(got.key.y) == size
    assert got.key.d is None
    curves = {
        KeyCurveName.p_256: ec.SECP256R1(),
        KeyCurveName.p_384: ec.SECP384R1(),
        KeyCurveName.p_521: ec.SECP521R1(),
    }
    ec.EllipticCurvePublicNumbers(_int(got.key.x), _int(got.key.y), curves[curve]).public_key()


def test_import_rsa_drops_private_parts(fv: FakeVault, keys_client: KeyClient) -> None:
    private = rsa.generate_private_key(65537, 2048)
    numbers = private.private_numbers()

    def raw(value: int) -> bytes:
        return value.to_bytes((value.bit_length() + 7) // 8, "big")

    jwk = JsonWebKey(
        kty=KeyType.rsa,
        n=raw(numbers.public_numbers.n),
        e=raw(numbers.public_numbers.e),
        d=raw(numbers.d),
        p=raw(numbers.p),
        q=raw(numbers.q),
        dp=raw(numbers.dmp1),
        dq=raw(numbers.dmq1),
        qi=raw(numbers.iqmp),
    )
    imported = keys_client.import_key("imported", jwk)
    assert imported.key.d is None
    got = keys_client.get_key("imported", imported.properties.version)
    assert _int(got.key.n) == numbers.public_numbers.n
    assert got.key.d is None and got.key.dp is None and got.key.qi is None


def test_import_unusual_key_types(fv: FakeVault, keys_client: KeyClient) -> None:
    keys_client.import_key("sym", JsonWebKey(kty=KeyType.oct, k=b"0123456789abcdef0123456789abcdef"))
    got = keys_client.get_key("sym")
    assert got.key_type == KeyType.oct and got.key.k is None
    keys_client.import_key("edwards", JsonWebKey(kty="OKP", crv="Ed25519", x=b"x" * 32))
    assert keys_client.get_key("edwards").key_type == "OKP"


def test_import_invalid_jwk_refused(fv: FakeVault, keys_client: KeyClient) -> None:
    with pytest.raises(HttpResponseError) as excinfo:
        keys_client.import_key("broken", JsonWebKey(kty=KeyType.ec, crv="P-256", x=b"\x01" * 32, y=b"\x02" * 32))
    assert excinfo.value.status_code == 400
    with pytest.raises(HttpResponseError):
        keys_client.create_rsa_key("odd-size", size=1000)


def test_versions_disable_and_missing(fv: FakeVault, keys_client: KeyClient) -> None:
    first = fv.create_key("rolling", "EC", crv="P-256")
    second = keys_client.create_ec_key("rolling", curve="P-256").properties.version
    assert [p.version for p in keys_client.list_properties_of_key_versions("rolling")] == [first, second]
    assert [p.name for p in keys_client.list_properties_of_keys()] == ["rolling"]
    keys_client.update_key_properties("rolling", second, enabled=False)
    disabled = keys_client.get_key("rolling")  # Key Vault returns a disabled key; only secrets answer 403
    assert (disabled.properties.version, disabled.properties.enabled) == (second, False)
    assert keys_client.get_key("rolling", first).properties.version == first
    assert list(keys_client.list_properties_of_key_versions("nope")) == []  # 200 and an empty list, not 404
    with pytest.raises(ResourceNotFoundError) as missing:
        keys_client.get_key("nope")
    assert missing.value.error.code == "KeyNotFound"

"""Key operations (sign, verify, encrypt, decrypt, wrapKey, unwrapKey) with a stored key, as Key Vault
does them: the key never leaves the fake, the client sends a digest or bytes, base64url, and an ``alg``.

RSA: RS256/384/512 and PS256/384/512 signatures (PSS with the digest's length as salt), RSA1_5,
RSA-OAEP (SHA-1) and RSA-OAEP-256 for encryption and wrapping. EC: ES256, ES384, ES512 and ES256K,
signatures as the fixed-length ``r || s`` JWS uses. Symmetric (oct) keys are Managed HSM only in Key
Vault and are not operated on here.
"""

from __future__ import annotations

from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    Prehashed,
    decode_dss_signature,
    encode_dss_signature,
)

from .errors import FakeVaultError, bad_parameter
from .keys import CURVES, b64url, b64url_decode, base_type

OPERATIONS = ("sign", "verify", "encrypt", "decrypt", "wrapkey", "unwrapkey")
#: The JWK ``key_ops`` name of each route's operation.
KEY_OP = {"sign": "sign", "verify": "verify", "encrypt": "encrypt", "decrypt": "decrypt",
          "wrapkey": "wrapKey", "unwrapkey": "unwrapKey"}  # fmt: skip

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}
_EC_ALGS = {
    "ES256": ("P-256", "256"),
    "ES384": ("P-384", "384"),
    "ES512": ("P-521", "512"),
    "ES256K": ("P-256K", "256"),
}


def _int(jwk: dict[str, Any], member: str) -> int:
    return int.from_bytes(b64url_decode(jwk[member]), "big")


def _rsa_private(jwk: dict[str, Any]) -> rsa.RSAPrivateKey:
    if "d" not in jwk:
        raise bad_parameter("The key has no private part: this operation needs one.")
    public = rsa.RSAPublicNumbers(_int(jwk, "e"), _int(jwk, "n"))
    numbers = rsa.RSAPrivateNumbers(
        _int(jwk, "p"), _int(jwk, "q"), _int(jwk, "d"), _int(jwk, "dp"), _int(jwk, "dq"), _int(jwk, "qi"), public
    )
    return numbers.private_key()


def _ec_private(jwk: dict[str, Any]) -> ec.EllipticCurvePrivateKey:
    if "d" not in jwk:
        raise bad_parameter("The key has no private part: this operation needs one.")
    public = ec.EllipticCurvePublicNumbers(_int(jwk, "x"), _int(jwk, "y"), CURVES[jwk["crv"]])
    return ec.EllipticCurvePrivateNumbers(_int(jwk, "d"), public).private_key()


def private_key(jwk: dict[str, Any]) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    """The ``cryptography`` private key of a stored RSA or EC JWK."""
    return _rsa_private(jwk) if jwk["kty"].startswith("RSA") else _ec_private(jwk)


def _rsa_public(jwk: dict[str, Any]) -> rsa.RSAPublicKey:
    return rsa.RSAPublicNumbers(_int(jwk, "e"), _int(jwk, "n")).public_key()


def _ec_public(jwk: dict[str, Any]) -> ec.EllipticCurvePublicKey:
    return ec.EllipticCurvePublicNumbers(_int(jwk, "x"), _int(jwk, "y"), CURVES[jwk["crv"]]).public_key()


def _unsupported(alg: str, jwk: dict[str, Any]) -> FakeVaultError:
    return bad_parameter(f"Algorithm {alg!r} is not supported for a key of type {jwk.get('kty')}.")


def _signature_scheme(alg: str, jwk: dict[str, Any]) -> tuple[str, hashes.HashAlgorithm]:
    family = base_type(jwk["kty"])
    if family == "RSA" and alg[:2] in ("RS", "PS") and alg[2:] in _HASHES:
        return alg[:2], _HASHES[alg[2:]]()
    if family == "EC" and alg in _EC_ALGS:
        curve, bits = _EC_ALGS[alg]
        if jwk.get("crv") != curve:
            raise bad_parameter(f"Algorithm {alg} needs a {curve} key, not {jwk.get('crv')}.")
        return "ES", _HASHES[bits]()
    raise _unsupported(alg, jwk)


def _rsa_padding(scheme: str, digest: hashes.HashAlgorithm) -> padding.AsymmetricPadding:
    return padding.PSS(padding.MGF1(digest), digest.digest_size) if scheme == "PS" else padding.PKCS1v15()


def _encryption_padding(alg: str, jwk: dict[str, Any]) -> padding.AsymmetricPadding:
    if base_type(jwk["kty"]) == "RSA":
        if alg == "RSA1_5":
            return padding.PKCS1v15()
        if alg == "RSA-OAEP":
            return padding.OAEP(padding.MGF1(hashes.SHA1()), hashes.SHA1(), None)
        if alg == "RSA-OAEP-256":
            return padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None)
    raise _unsupported(alg, jwk)


def _field(body: dict[str, Any], name: str) -> bytes:
    value = body.get(name)
    if not isinstance(value, str):
        raise bad_parameter(f"The '{name}' member must be a base64url string.")
    try:
        return b64url_decode(value)
    except ValueError as exc:
        raise bad_parameter(f"The '{name}' member is not base64url.") from exc


def operate(operation: str, jwk: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """The result of ``operation`` (a route name) on ``body``: ``{"value": ...}`` (no ``kid``; the caller adds it)."""
    alg = body.get("alg")
    if not isinstance(alg, str) or not alg:
        raise bad_parameter("The 'alg' member is required.")
    if operation == "sign":
        digest_bytes = _field(body, "value")
        scheme, digest = _signature_scheme(alg, jwk)
        if len(digest_bytes) != digest.digest_size:
            raise bad_parameter(f"The digest for {alg} must be {digest.digest_size} bytes.")
        if scheme == "ES":
            key = _ec_private(jwk)
            r, s = decode_dss_signature(key.sign(digest_bytes, ec.ECDSA(Prehashed(digest))))
            size = (key.curve.key_size + 7) // 8
            return {"value": b64url(r.to_bytes(size, "big") + s.to_bytes(size, "big"))}
        signature = _rsa_private(jwk).sign(digest_bytes, _rsa_padding(scheme, digest), Prehashed(digest))
        return {"value": b64url(signature)}
    if operation == "verify":
        digest_bytes, signature = _field(body, "digest"), _field(body, "value")
        scheme, digest = _signature_scheme(alg, jwk)
        try:
            if scheme == "ES":
                public = _ec_public(jwk)
                size = (public.curve.key_size + 7) // 8
                if len(signature) != 2 * size:
                    return {"value": False}
                der = encode_dss_signature(
                    int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big")
                )
                public.verify(der, digest_bytes, ec.ECDSA(Prehashed(digest)))
            else:
                _rsa_public(jwk).verify(signature, digest_bytes, _rsa_padding(scheme, digest), Prehashed(digest))
        except (InvalidSignature, ValueError):
            return {"value": False}
        return {"value": True}
    data = _field(body, "value")
    pad = _encryption_padding(alg, jwk)
    if operation in ("encrypt", "wrapkey"):
        return {"value": b64url(_rsa_public(jwk).encrypt(data, pad))}
    try:
        return {"value": b64url(_rsa_private(jwk).decrypt(data, pad))}
    except ValueError as exc:
        raise bad_parameter("The ciphertext could not be decrypted with this key and algorithm.") from exc

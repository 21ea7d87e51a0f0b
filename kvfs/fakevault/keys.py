"""JSON Web Keys: generate, import, and show only the public half, as Key Vault does.

A stored key is a full JWK dict (private members included when we have them). Reads go through
``public_jwk`` so private members never leave the fake.
"""

from __future__ import annotations

import base64
import secrets
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, rsa

from .errors import bad_parameter

#: JWK members that are private key material; they are dropped on every read.
PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "k", "t"})

CURVES: dict[str, ec.EllipticCurve] = {
    "P-256": ec.SECP256R1(),
    "P-384": ec.SECP384R1(),
    "P-521": ec.SECP521R1(),
    "P-256K": ec.SECP256K1(),
}
_CURVE_NAMES = {type(curve).__name__: name for name, curve in CURVES.items()}

RSA_SIZES = (2048, 3072, 4096)
OCT_SIZES = (128, 192, 256)
#: Key types that can be stored (create or import). OKP and oct are kept so that clients can be tested
#: against key types they cannot render.
KEY_TYPES = ("RSA", "RSA-HSM", "EC", "EC-HSM", "oct", "oct-HSM", "OKP", "OKP-HSM")

_DEFAULT_OPS = {
    "RSA": ["encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey"],
    "EC": ["sign", "verify"],
    "oct": ["encrypt", "decrypt", "wrapKey", "unwrapKey"],
    "OKP": ["sign", "verify"],
}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _int_b64(value: int, length: int | None = None) -> str:
    return b64url(value.to_bytes(length or max(1, (value.bit_length() + 7) // 8), "big"))


def base_type(kty: str) -> str:
    """``RSA-HSM`` → ``RSA``: the family that decides which members a JWK has."""
    return kty.removesuffix("-HSM")


def default_ops(kty: str) -> list[str]:
    return list(_DEFAULT_OPS[base_type(kty)])


def jwk_from_private_key(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> dict[str, Any]:
    """A full (private) JWK for an RSA or EC key from ``cryptography``."""
    if isinstance(key, rsa.RSAPrivateKey):
        priv = key.private_numbers()
        pub = priv.public_numbers
        return {
            "kty": "RSA",
            "n": _int_b64(pub.n),
            "e": _int_b64(pub.e),
            "d": _int_b64(priv.d),
            "p": _int_b64(priv.p),
            "q": _int_b64(priv.q),
            "dp": _int_b64(priv.dmp1),
            "dq": _int_b64(priv.dmq1),
            "qi": _int_b64(priv.iqmp),
        }
    if isinstance(key, ec.EllipticCurvePrivateKey):
        crv = _CURVE_NAMES.get(type(key.curve).__name__)
        if crv is None:
            raise bad_parameter(f"Unsupported elliptic curve {key.curve.name}.")
        size = (key.curve.key_size + 7) // 8
        priv_ec = key.private_numbers()
        return {
            "kty": "EC",
            "crv": crv,
            "x": _int_b64(priv_ec.public_numbers.x, size),
            "y": _int_b64(priv_ec.public_numbers.y, size),
            "d": _int_b64(priv_ec.private_value, size),
        }
    raise bad_parameter("Only RSA and EC keys are supported.")


def generate(
    kty: str, *, key_size: int | None = None, crv: str | None = None, public_exponent: int | None = None
) -> dict[str, Any]:
    """Generate a key like ``POST /keys/{name}/create``: a private JWK with ``kty`` as asked."""
    family = base_type(kty) if kty in KEY_TYPES else None
    if family == "RSA":
        size = key_size or 2048
        if size not in RSA_SIZES:
            raise bad_parameter(f"Invalid key size {size} for RSA; allowed: {', '.join(map(str, RSA_SIZES))}.")
        exponent = public_exponent or 65537
        if exponent not in (3, 65537):
            raise bad_parameter(f"Invalid public exponent {exponent}.")
        jwk = jwk_from_private_key(rsa.generate_private_key(exponent, size))
    elif family == "EC":
        curve = crv or "P-256"
        if curve not in CURVES:
            raise bad_parameter(f"Invalid curve {curve}; allowed: {', '.join(CURVES)}.")
        jwk = jwk_from_private_key(ec.generate_private_key(CURVES[curve]))
    elif family == "oct":
        size = key_size or 256
        if size not in OCT_SIZES:
            raise bad_parameter(f"Invalid key size {size} for oct; allowed: {', '.join(map(str, OCT_SIZES))}.")
        jwk = {"kty": "oct", "k": b64url(secrets.token_bytes(size // 8))}
    else:
        raise bad_parameter(f"Key type {kty!r} cannot be created; use one of RSA, RSA-HSM, EC, EC-HSM, oct.")
    jwk["kty"] = kty
    return jwk


def regenerate(jwk: dict[str, Any]) -> dict[str, Any]:
    """A fresh key like ``jwk`` (same type, size or curve, exponent): what rotating a key makes."""
    family = base_type(jwk["kty"])
    if family == "RSA":
        n = int.from_bytes(b64url_decode(jwk["n"]), "big")
        e = int.from_bytes(b64url_decode(jwk["e"]), "big")
        return generate(jwk["kty"], key_size=n.bit_length(), public_exponent=e)
    if family == "EC":
        return generate(jwk["kty"], crv=jwk["crv"])
    if family == "oct":
        return generate(jwk["kty"], key_size=len(b64url_decode(jwk["k"])) * 8)
    raise bad_parameter(f"Keys of type {jwk['kty']} cannot be rotated.")


def _require(jwk: dict[str, Any], *members: str) -> None:
    for member in members:
        value = jwk.get(member)
        if not isinstance(value, str) or not value:
            raise bad_parameter(f"The JSON web key of type {jwk.get('kty')} is missing member '{member}'.")
        try:
            b64url_decode(value)
        except ValueError as exc:
            raise bad_parameter(f"JSON web key member '{member}' is not base64url.") from exc


def validate_import(jwk: Any, *, hsm: bool = False) -> dict[str, Any]:
    """Check a JWK from ``PUT /keys/{name}`` and normalise it; returns the JWK to store."""
    if not isinstance(jwk, dict):
        raise bad_parameter("The 'key' member must be a JSON web key object.")
    kty = jwk.get("kty")
    if kty not in KEY_TYPES:
        raise bad_parameter(f"Unsupported JSON web key type {kty!r}.")
    family = base_type(kty)
    if family == "RSA":
        _require(jwk, "n", "e")
    elif family == "EC":
        _require(jwk, "x", "y")
        crv = jwk.get("crv")
        if crv not in CURVES:
            raise bad_parameter(f"Invalid curve {crv!r}; allowed: {', '.join(CURVES)}.")
        x = int.from_bytes(b64url_decode(jwk["x"]), "big")
        y = int.from_bytes(b64url_decode(jwk["y"]), "big")
        try:
            ec.EllipticCurvePublicNumbers(x, y, CURVES[crv]).public_key()
        except ValueError as exc:
            raise bad_parameter("The EC point is not on the curve.") from exc
    elif family == "OKP":
        _require(jwk, "x")
        if not isinstance(jwk.get("crv"), str):
            raise bad_parameter("The OKP JSON web key is missing member 'crv'.")
    else:
        _require(jwk, "k")
    ops = jwk.get("key_ops")
    if ops is not None and not (isinstance(ops, list) and all(isinstance(op, str) for op in ops)):
        raise bad_parameter("'key_ops' must be a list of strings.")
    stored = {k: v for k, v in jwk.items() if k not in ("kid", "key_hsm")}
    if hsm and not kty.endswith("-HSM"):
        stored["kty"] = f"{kty}-HSM"
    return stored


_PUBLIC_ORDER = ("kty", "key_ops", "n", "e", "crv", "x", "y")


def public_jwk(jwk: dict[str, Any], kid: str, key_ops: list[str]) -> dict[str, Any]:
    """The JWK a GET returns: ``kid``, ``kty``, ``key_ops`` and public members only."""
    out: dict[str, Any] = {"kid": kid, "kty": jwk["kty"], "key_ops": list(key_ops)}
    for member in _PUBLIC_ORDER[2:]:
        if member in jwk:
            out[member] = jwk[member]
    return out

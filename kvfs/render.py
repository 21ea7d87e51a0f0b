"""Pure functions: Key Vault material → file bytes, exactly as the Azure provider writes them.

``render`` returns a mapping of file names (relative to the mount root) to bytes, because one
object may become several files (split certificate files, version-history folders).
"""

from __future__ import annotations

import base64
import binascii

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from .config import ObjectSpec
from .errors import RenderError
from .material import CertificateMaterial, KeyMaterial, Material, SecretMaterial

PKCS12_CONTENT_TYPE = "application/x-pkcs12"
PEM_CONTENT_TYPE = "application/x-pem-file"

_EC_CURVES: dict[str, ec.EllipticCurve] = {
    "P-256": ec.SECP256R1(),
    "P-384": ec.SECP384R1(),
    "P-521": ec.SECP521R1(),
}


def render(spec: ObjectSpec, material: Material) -> bytes:
    """The bytes of the file ``spec.alias`` for one version of the object."""
    if isinstance(material, SecretMaterial):
        return render_secret(spec, material)
    if isinstance(material, KeyMaterial):
        return render_key(spec, material)
    if isinstance(material, CertificateMaterial):
        return render_certificate(spec, material)
    raise TypeError(f"unknown material {type(material).__name__}")


def render_secret(spec: ObjectSpec, material: SecretMaterial) -> bytes:
    value = material.value
    if material.kid and material.content_type == PKCS12_CONTENT_TYPE and spec.format == "pem":
        return pkcs12_to_pem(spec, value)
    return decode_value(spec, value)


def decode_value(spec: ObjectSpec, value: str) -> bytes:
    """Apply ``objectEncoding``: utf-8 as stored, base64 (standard) or hex decoded to raw bytes."""
    if spec.encoding == "utf-8":
        return value.encode("utf-8")
    try:
        if spec.encoding == "base64":
            return base64.b64decode(value.strip(), validate=True)
        return bytes.fromhex(value.strip())
    except (binascii.Error, ValueError):
        raise RenderError(
            f"{spec.describe()}: the value is not valid {spec.encoding} (objectEncoding: {spec.encoding})"
        ) from None


def pkcs12_to_pem(spec: ObjectSpec, value: str) -> bytes:
    """A password-less PFX (base64 text) → PEM: the private key as PKCS#8, then the certificates."""
    from cryptography.hazmat.primitives.serialization import pkcs12

    try:
        blob = base64.b64decode(value.strip(), validate=True)
        key, cert, extra = pkcs12.load_key_and_certificates(blob, None)
    except (binascii.Error, ValueError):
        raise RenderError(f"{spec.describe()}: the certificate's PFX cannot be read without a password") from None
    parts: list[bytes] = []
    if key is not None:
        parts.append(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    certs = ([cert] if cert is not None else []) + list(extra)
    parts.extend(c.public_bytes(serialization.Encoding.PEM) for c in certs)
    return b"".join(parts)


def render_key(spec: ObjectSpec, material: KeyMaterial) -> bytes:
    """The public key as PEM ``PUBLIC KEY`` (SubjectPublicKeyInfo)."""
    kty = material.kty.removesuffix("-HSM")
    if kty == "RSA" and material.n and material.e:
        public = rsa.RSAPublicNumbers(int.from_bytes(material.e, "big"), int.from_bytes(material.n, "big")).public_key()
    elif kty == "EC" and material.crv in _EC_CURVES and material.x and material.y:
        public = ec.EllipticCurvePublicNumbers(
            int.from_bytes(material.x, "big"), int.from_bytes(material.y, "big"), _EC_CURVES[material.crv]
        ).public_key()
    else:
        detail = f"{material.kty} {material.crv}" if material.crv else material.kty
        raise RenderError(f"{spec.describe()}: key type {detail} is not supported (RSA and EC P-256/384/521 are)")
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def render_certificate(spec: ObjectSpec, material: CertificateMaterial) -> bytes:
    """The leaf certificate as one PEM ``CERTIFICATE`` block."""
    try:
        cert = x509.load_der_x509_certificate(material.cer)
    except ValueError:
        raise RenderError(f"{spec.describe()}: the certificate is not valid DER") from None
    return cert.public_bytes(serialization.Encoding.PEM)

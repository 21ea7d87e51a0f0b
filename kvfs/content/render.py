"""Pure functions: Key Vault material → file bytes, exactly as the Azure provider writes them.

One object version may become several files: the main file plus, when asked, ``.crt`` and
``.key`` beside it. ``render`` returns ``(suffix, bytes)`` pairs; the loader adds the base path
(the alias, or ``alias/N`` inside a version-history folder).
"""

from __future__ import annotations

import logging

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ..config import ObjectSpec
from ..errors import RenderError
from .material import CertificateMaterial, KeyMaterial, Material, SecretMaterial
from .pem import CERTIFICATE, Pkcs12Content, certificate_pem, load_pfx, order_chain, pem_blocks, pkcs8_pem
from .value_decoding import lenient_base64, lenient_hex, strict_base64

log = logging.getLogger(__name__)

PKCS12_CONTENT_TYPE = "application/x-pkcs12"
PEM_CONTENT_TYPE = "application/x-pem-file"

_EC_CURVES: dict[str, ec.EllipticCurve] = {
    "P-256": ec.SECP256R1(),
    "P-384": ec.SECP384R1(),
    "P-521": ec.SECP521R1(),
}

RenderedFiles = list[tuple[str, bytes]]  # (suffix after the base name, content)

_MATERIAL_KIND = {SecretMaterial: "secret", KeyMaterial: "key", CertificateMaterial: "certificate"}
_warned: set[tuple[str, str]] = set()


def _warn_once(spec: ObjectSpec, message: str) -> None:
    """A warning about an object's content, given once per process (rotation renders again and again)."""
    if (spec.describe(), message) not in _warned:
        _warned.add((spec.describe(), message))
        log.warning("%s: %s", spec.describe(), message)


def render(spec: ObjectSpec, material: Material, *, split: bool = False) -> RenderedFiles:
    """The files one version of the object becomes. ``split`` adds ``.crt``/``.key`` for certificates.

    Whatever the vault returned, the outcome is files or a one-line ``RenderError`` naming the object:
    material that the parsers below do not expect (cryptography raises several exception types for
    it) must never end the daemon with a traceback.
    """
    try:
        return _render(spec, material, split=split)
    except RenderError:
        raise
    except Exception as exc:
        kind = _MATERIAL_KIND.get(type(material), "object")
        log.debug("%s: unreadable %s material", spec.describe(), kind, exc_info=exc)
        raise RenderError(
            f"{spec.describe()}: the vault returned {kind} material that cannot be read ({type(exc).__name__})"
        ) from None


def _render(spec: ObjectSpec, material: Material, *, split: bool) -> RenderedFiles:
    if isinstance(material, SecretMaterial):
        return render_secret(spec, material, split=split or spec.split)
    if isinstance(material, KeyMaterial):
        return [("", render_key(spec, material))]
    if isinstance(material, CertificateMaterial):
        return [("", render_certificate(spec, material))]
    raise TypeError(f"unknown material {type(material).__name__}")


def render_secret(spec: ObjectSpec, material: SecretMaterial, *, split: bool = False) -> RenderedFiles:
    """A secret's value; for a certificate's secret, PEM (or the stored PFX) as the provider writes it."""
    if not material.kid:
        main = decode_value(spec, material.value)
        return [("", main), *(_split_files(spec, main) if spec.split else [])]

    if material.content_type == PEM_CONTENT_TYPE:
        content = material.value.encode()
        pieces = _split_pem(content) if split else None
    elif material.content_type == PKCS12_CONTENT_TYPE:
        if spec.format == "pfx":
            content = material.value.encode()  # the base64 text, as stored
            # The provider splits the base64 text as if it were PEM and writes empty files; kvfs reads the PFX.
            pieces = _split_pfx(spec, material.value) if split else None
        else:
            content = pkcs12_to_pem(spec, material.value)
            pieces = _split_pem(content) if split else None
    else:
        raise RenderError(f"{spec.describe()}: unknown certificate content type {material.content_type!r}")

    files = [("", decode_value(spec, content.decode()))]
    if pieces is not None:
        files += [(".crt", pieces[0]), (".key", pieces[1])]
    return files


def _split_files(spec: ObjectSpec, content: bytes) -> RenderedFiles:
    """``split: true`` on a plain secret that holds PEM: certificates and key apart, as for a certificate."""
    certs, key = _split_pem(content)
    if not certs and not key:
        raise RenderError(f"{spec.describe()}: split is set but the secret holds no PEM certificate or key")
    return [(".crt", certs), (".key", key)]


def _split_pem(content: bytes) -> tuple[bytes, bytes]:
    """Certificates and everything else (the key), each block re-encoded as the provider writes it
    (Go's ``pem.EncodeToMemory``: LF line ends, 64 columns), whatever line ends and width it was stored with."""
    blocks = pem_blocks(content)
    certs = b"".join(b.text for b in blocks if b.type == CERTIFICATE)
    keys = b"".join(b.text for b in blocks if b.type != CERTIFICATE)
    return certs, keys


def _split_pfx(spec: ObjectSpec, value: str) -> tuple[bytes, bytes]:
    content = _read_pfx(spec, value)
    certs = b"".join(certificate_pem(c) for c in _chain_in_order(spec, content.certificates))
    return certs, pkcs8_pem(content.key) if content.key is not None else b""


_LENIENCY = {
    "base64": "the value has whitespace around it, which the Azure provider refuses (Go's base64 decoder "
    "skips only line breaks); kvfs serves it",
    "hex": "the value has whitespace in it, which the Azure provider refuses (Go's hex decoder takes "
    "hex digits only); kvfs serves it",
}


def decode_value(spec: ObjectSpec, value: str) -> bytes:
    """Apply ``objectEncoding`` as the provider does: utf-8 as stored, base64 (standard, line breaks
    skipped) or hex decoded to raw bytes. What only kvfs accepts is served, with a warning."""
    if spec.encoding == "utf-8":
        return value.encode("utf-8")
    try:
        data, lenient = lenient_base64(value) if spec.encoding == "base64" else lenient_hex(value)
    except ValueError:
        raise RenderError(
            f"{spec.describe()}: the value is not valid {spec.encoding} (objectEncoding: {spec.encoding})"
        ) from None
    if lenient:
        _warn_once(spec, _LENIENCY[spec.encoding])
    return data


def _read_pfx(spec: ObjectSpec, value: str) -> Pkcs12Content:
    try:
        blob = strict_base64(value.strip())
    except ValueError:
        raise RenderError(f"{spec.describe()}: the certificate's PFX is not valid base64") from None
    try:
        return load_pfx(blob)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise RenderError(
            f"{spec.describe()}: the certificate's PFX cannot be read without a password, or is corrupt"
        ) from None


def _chain_in_order(spec: ObjectSpec, certs: list[x509.Certificate]) -> list[x509.Certificate]:
    try:
        ordered = order_chain(certs)
    except ValueError:
        raise RenderError(
            f"{spec.describe()}: a certificate in the chain has extensions that cannot be read (corrupt certificate)"
        ) from None
    if ordered is None:
        log.warning(
            "%s: certificate chain is incomplete (missing intermediate or root); keeping the stored order",
            spec.describe(),
        )
        return certs
    return ordered


def pkcs12_to_pem(spec: ObjectSpec, value: str) -> bytes:
    """A password-less PFX (base64 text) → PEM: the private key as PKCS#8, then leaf → intermediates → root."""
    content = _read_pfx(spec, value)
    parts = [pkcs8_pem(content.key)] if content.key is not None else []
    parts += [certificate_pem(c) for c in _chain_in_order(spec, content.certificates)]
    return b"".join(parts)


def render_key(spec: ObjectSpec, material: KeyMaterial) -> bytes:
    """The public key as PEM ``PUBLIC KEY`` (SubjectPublicKeyInfo)."""
    kty = material.kty.removesuffix("-HSM")
    if kty == "RSA":
        public = _rsa_public_key(spec, material)
    elif kty == "EC" and material.crv in _EC_CURVES:
        public = _ec_public_key(spec, material)
    else:
        detail = f"{material.kty} {material.crv}" if material.crv else material.kty
        raise RenderError(f"{spec.describe()}: key type {detail} is not supported (RSA and EC P-256/384/521 are)")
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def _rsa_public_key(spec: ObjectSpec, material: KeyMaterial) -> rsa.RSAPublicKey:
    if not material.n or not material.e:
        raise RenderError(f"{spec.describe()}: the RSA key has no modulus or exponent (n, e): corrupt key material")
    try:
        return rsa.RSAPublicNumbers(int.from_bytes(material.e, "big"), int.from_bytes(material.n, "big")).public_key()
    except ValueError:
        raise RenderError(
            f"{spec.describe()}: the RSA key's modulus or exponent is invalid (corrupt key material)"
        ) from None


def _ec_public_key(spec: ObjectSpec, material: KeyMaterial) -> ec.EllipticCurvePublicKey:
    if not material.x or not material.y:
        raise RenderError(f"{spec.describe()}: the EC key has no point (x, y): corrupt key material")
    x, y = int.from_bytes(material.x, "big"), int.from_bytes(material.y, "big")
    try:
        return ec.EllipticCurvePublicNumbers(x, y, _EC_CURVES[material.crv or ""]).public_key()
    except ValueError:
        raise RenderError(
            f"{spec.describe()}: the EC key's point is not on curve {material.crv} (corrupt key material)"
        ) from None


def render_certificate(spec: ObjectSpec, material: CertificateMaterial) -> bytes:
    """The leaf certificate as one PEM ``CERTIFICATE`` block."""
    try:
        cert = x509.load_der_x509_certificate(material.cer)
    except ValueError:
        raise RenderError(f"{spec.describe()}: the certificate is not valid DER") from None
    return certificate_pem(cert)

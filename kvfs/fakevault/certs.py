"""Certificate import: read PFX or PEM, and build what Key Vault derives from it.

Key Vault turns one imported bundle into three objects (certificate, key, secret). This module does the
format work: parse the upload, pick the leaf (the certificate that matches the private key), render the
backing secret as PFX or PEM, and describe the certificate in a policy. The chain order is kept as given.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtensionOID

from .errors import bad_parameter
from .keys import b64url, jwk_from_private_key

PKCS12 = "application/x-pkcs12"
PEM = "application/x-pem-file"
CONTENT_TYPES = (PKCS12, PEM)

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n.*?-----END \1-----", re.DOTALL)
_KEY_LABELS = (b"PRIVATE KEY", b"RSA PRIVATE KEY", b"EC PRIVATE KEY", b"ENCRYPTED PRIVATE KEY")


@dataclass(frozen=True)
class CertMaterial:
    """A parsed upload: the private key, the leaf, and every certificate in the order given."""

    key: PrivateKey
    leaf: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    source_format: str  # PKCS12 or PEM: what was uploaded

    @property
    def others(self) -> list[x509.Certificate]:
        """The chain without the leaf, order kept."""
        return [c for c in self.chain if c is not self.leaf]


def _public_der(key: Any) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _check_key(key: object) -> PrivateKey:
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise bad_parameter("Only RSA and EC certificate keys are supported.")
    return key


def decode_upload(value: str) -> bytes:
    """The bytes of an import ``value``: base64 (as the SDK sends it) or raw PEM text."""
    if value.lstrip().startswith("-----BEGIN"):
        return value.encode("utf-8")
    try:
        return base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise bad_parameter("The certificate value is neither base64 nor PEM.") from exc


def parse_upload(data: bytes, password: str | None) -> CertMaterial:
    """Parse an uploaded PFX or PEM bundle; it must contain the private key."""
    if data.lstrip().startswith(b"-----BEGIN"):
        return _parse_pem(data, password)
    return _parse_pfx(data, password)


def _parse_pfx(data: bytes, password: str | None) -> CertMaterial:
    attempts = [password.encode("utf-8")] if password else [None, b""]
    loaded = None
    for pwd in attempts:
        try:
            loaded = pkcs12.load_pkcs12(data, pwd)
            break
        except ValueError:
            continue
    if loaded is None:
        raise bad_parameter(
            "The specified PKCS#12 X.509 certificate content can not be read. Please check if certificate "
            "is in valid PKCS#12 format and the password is correct."
        )
    if loaded.key is None or loaded.cert is None:
        raise bad_parameter("The PKCS#12 content must contain a private key and its certificate.")
    key = _check_key(loaded.key)
    leaf = loaded.cert.certificate
    chain = (leaf, *(c.certificate for c in loaded.additional_certs))
    return material(key, chain, PKCS12)


def _parse_pem(data: bytes, password: str | None) -> CertMaterial:
    key = None
    certs: list[x509.Certificate] = []
    for match in _PEM_BLOCK.finditer(data):
        label, block = match.group(1), match.group(0)
        try:
            if label == b"CERTIFICATE":
                certs.append(x509.load_pem_x509_certificate(block))
            elif label in _KEY_LABELS:
                if key is not None:
                    raise bad_parameter("The PEM content has more than one private key.")
                pwd = password.encode("utf-8") if password else None
                key = serialization.load_pem_private_key(block, pwd)
        except (ValueError, TypeError) as exc:
            raise bad_parameter(
                f"The specified PEM X.509 certificate content is in an unexpected format ({label.decode()})."
            ) from exc
    if key is None:
        raise bad_parameter("The PEM content must contain the private key.")
    if not certs:
        raise bad_parameter("The PEM content has no certificate.")
    return material(_check_key(key), tuple(certs), PEM)


def material(key: PrivateKey, chain: tuple[x509.Certificate, ...], source: str) -> CertMaterial:
    """The material of ``key``: the leaf is the first certificate of ``chain`` with its public key."""
    wanted = _public_der(key.public_key())
    for cert in chain:
        if _public_der(cert.public_key()) == wanted:
            return CertMaterial(key=key, leaf=cert, chain=chain, source_format=source)
    raise bad_parameter("The private key does not match any certificate in the upload.")


def secret_value(material: CertMaterial, content_type: str, *, exportable: bool = True) -> str:
    """The backing secret's value: base64 of a password-less PFX, or PEM (key, then certificates as given)."""
    key = material.key if exportable else None
    if content_type == PKCS12:
        pfx = pkcs12.serialize_key_and_certificates(
            None, key, material.leaf, material.others or None, serialization.NoEncryption()
        )
        return base64.b64encode(pfx).decode("ascii")
    parts = []
    if key is not None:
        parts.append(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ).decode("ascii")
        )
    parts.extend(c.public_bytes(serialization.Encoding.PEM).decode("ascii") for c in material.chain)
    return "".join(parts)


def cer(cert: x509.Certificate) -> str:
    """``cer``: standard base64 of the DER certificate."""
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode("ascii")


def x5t(cert: x509.Certificate) -> str:
    """``x5t``: base64url (no padding) SHA-1 thumbprint of the DER certificate."""
    return b64url(hashlib.sha1(cert.public_bytes(serialization.Encoding.DER)).digest())


def public_key_jwk(material: CertMaterial) -> dict[str, Any]:
    """The certificate key as a JWK (private members included; reads strip them)."""
    return jwk_from_private_key(material.key)


def validity(cert: x509.Certificate) -> tuple[int, int]:
    """``(nbf, exp)`` as integer unix seconds."""
    return int(cert.not_valid_before_utc.timestamp()), int(cert.not_valid_after_utc.timestamp())


#: ``cryptography`` KeyUsage attribute -> Key Vault's name, for the usages a certificate can always report.
KEY_USAGE = (
    ("digital_signature", "digitalSignature"),
    ("content_commitment", "nonRepudiation"),
    ("key_encipherment", "keyEncipherment"),
    ("data_encipherment", "dataEncipherment"),
    ("key_agreement", "keyAgreement"),
    ("key_cert_sign", "keyCertSign"),
    ("crl_sign", "cRLSign"),
)


def x509_props(cert: x509.Certificate) -> dict[str, Any]:
    """The policy's ``x509_props`` describing an imported leaf."""
    nbf, exp = validity(cert)
    props: dict[str, Any] = {
        "subject": cert.subject.rfc4514_string(),
        "validity_months": max(1, round((exp - nbf) / (30.44 * 86400))),
    }
    extensions = {ext.oid: ext.value for ext in cert.extensions}
    san = extensions.get(ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
    if isinstance(san, x509.SubjectAlternativeName):
        sans: dict[str, list[str]] = {}
        dns = san.get_values_for_type(x509.DNSName)
        emails = san.get_values_for_type(x509.RFC822Name)
        if dns:
            sans["dns_names"] = dns
        if emails:
            sans["emails"] = emails
        if sans:
            props["sans"] = sans
    eku = extensions.get(ExtensionOID.EXTENDED_KEY_USAGE)
    if isinstance(eku, x509.ExtendedKeyUsage):
        props["ekus"] = [oid.dotted_string for oid in eku]
    usage = extensions.get(ExtensionOID.KEY_USAGE)
    if isinstance(usage, x509.KeyUsage):
        props["key_usage"] = [name for attr, name in KEY_USAGE if getattr(usage, attr)]
    return props


def key_props(material: CertMaterial, requested: dict[str, Any]) -> dict[str, Any]:
    """The policy's ``key_props``: type and size from the actual key, flags from the request."""
    props: dict[str, Any] = {
        "exportable": requested.get("exportable", True) is not False,
        "reuse_key": bool(requested.get("reuse_key", False)),
    }
    if isinstance(material.key, rsa.RSAPrivateKey):
        props.update(kty="RSA", key_size=material.key.key_size)
    else:
        jwk = jwk_from_private_key(material.key)
        props.update(kty="EC", crv=jwk["crv"])
    return props

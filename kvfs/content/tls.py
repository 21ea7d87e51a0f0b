"""``tls.crt`` / ``tls.key`` for a ``kubernetes.io/tls`` Secret, taken apart as the CSI driver does.

The content is a file kvfs serves: PEM (key and certificates), or binary PKCS#12 (``objectFormat:
pfx`` with ``objectEncoding: base64``). Each certificate block is re-encoded as the driver's
``pem.EncodeToMemory`` writes it (LF, 64 columns); the key is re-encoded as the driver re-encodes it:
RSA as PKCS#1 ``RSA PRIVATE KEY``, EC as SEC 1 ``EC PRIVATE KEY``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from .pem import CERTIFICATE, certificate_pem, load_pfx, pem_blocks


class TlsSplitError(ValueError):
    """The content holds no usable certificate or key."""


@dataclass(frozen=True)
class TlsPair:
    certificate: bytes  # every certificate, PEM, in the order written
    key: bytes = field(repr=False)  # the private key, PKCS#1 (RSA) or SEC 1 (EC) PEM


def split_tls(content: bytes) -> TlsPair:
    """Certificates and private key of PEM or binary PFX content, for a ``kubernetes.io/tls`` Secret."""
    blocks = pem_blocks(content)
    if blocks:
        certificate = b"".join(b.text for b in blocks if b.type == CERTIFICATE)
        keys = [b.text for b in blocks if b.type != CERTIFICATE]
        if not keys:
            raise TlsSplitError("no private key in the content")
        try:  # like the driver, the last non-certificate block is the key
            key = serialization.load_pem_private_key(keys[-1], password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise TlsSplitError("the private key cannot be read (encrypted, corrupt or of an unknown type)") from None
    else:
        try:
            pfx = load_pfx(content)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise TlsSplitError("the content is neither PEM nor a password-less PKCS#12 file") from None
        if pfx.key is None:
            raise TlsSplitError("no private key in the PKCS#12 content")
        certificate = b"".join(certificate_pem(c) for c in pfx.certificates)
        key = pfx.key
    if not certificate:
        raise TlsSplitError("no certificate in the content")
    return TlsPair(certificate, _driver_key_pem(key))


def _driver_key_pem(key: object) -> bytes:
    """TraditionalOpenSSL is PKCS#1 (``RSA PRIVATE KEY``) for RSA and SEC 1 (``EC PRIVATE KEY``) for EC."""
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise TlsSplitError(f"unsupported private key type {type(key).__name__}: only RSA and EC are")
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )

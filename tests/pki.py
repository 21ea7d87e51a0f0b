"""Real certificate material for tests: a root CA, an intermediate and a leaf, RSA or EC, as PEM or PKCS#12."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def new_key(kind: str = "rsa") -> PrivateKey:
    """``rsa`` (2048), ``p256``, ``p384`` or ``p521``."""
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    curves = {"p256": ec.SECP256R1(), "p384": ec.SECP384R1(), "p521": ec.SECP521R1()}
    return ec.generate_private_key(curves[kind])


def _certificate(
    subject: str, key: PrivateKey, issuer: x509.Certificate | None, issuer_key: PrivateKey, *, ca: bool
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    )
    if not ca:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(subject)]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


@dataclass
class Chain:
    """root → intermediate → leaf; ``leaf_key`` is the leaf's private key."""

    root: x509.Certificate
    intermediate: x509.Certificate
    leaf: x509.Certificate
    leaf_key: PrivateKey = field(repr=False)

    @property
    def leaf_first(self) -> list[x509.Certificate]:
        return [self.leaf, self.intermediate, self.root]

    def pem(self, order: list[x509.Certificate] | None = None) -> bytes:
        """The key (PKCS#8) then the certificates in ``order`` (default leaf first)."""
        key = self.leaf_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        certs = order or self.leaf_first
        return key + b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)

    def pfx(self, password: bytes | None = None, extra: list[x509.Certificate] | None = None) -> bytes:
        """PKCS#12 with the leaf and key; others as extra certificates (AES-256/SHA-256 when a password is set)."""
        if password:
            encryption = (
                serialization.PrivateFormat.PKCS12.encryption_builder()
                .kdf_rounds(2048)
                .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
                .hmac_hash(hashes.SHA256())
                .build(password)
            )
        else:
            encryption = serialization.NoEncryption()
        cas = extra if extra is not None else [self.intermediate, self.root]
        return pkcs12.serialize_key_and_certificates(b"leaf", self.leaf_key, self.leaf, cas, encryption)


def make_chain(kind: str = "rsa", name: str = "app.example.test") -> Chain:
    root_key, inter_key, leaf_key = new_key(kind), new_key(kind), new_key(kind)
    root = _certificate("kvfs test root", root_key, None, root_key, ca=True)
    intermediate = _certificate("kvfs test intermediate", inter_key, root, root_key, ca=True)
    leaf = _certificate(name, leaf_key, intermediate, inter_key, ca=False)
    return Chain(root, intermediate, leaf, leaf_key)


def pem_of(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)

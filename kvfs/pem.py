"""PEM and PKCS#12 plumbing shared by the renderer and the Kubernetes TLS helper (cryptography only)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n.*?-----END \1-----\r?\n?", re.DOTALL)
CERTIFICATE = "CERTIFICATE"


@dataclass(frozen=True)
class PemBlock:
    type: str
    text: bytes = field(repr=False)  # the whole block, BEGIN to END line, newline-terminated


def pem_blocks(data: bytes) -> list[PemBlock]:
    """Every PEM block in ``data``, in order (text between blocks is ignored, as Go's pem.Decode does)."""
    blocks = []
    for match in _BLOCK.finditer(data):
        text = match.group(0)
        blocks.append(PemBlock(match.group(1).decode(), text if text.endswith(b"\n") else text + b"\n"))
    return blocks


def certificate_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def pkcs8_pem(key: pkcs12.PKCS12PrivateKeyTypes) -> bytes:
    """A private key as unencrypted PKCS#8 ``PRIVATE KEY`` (what the provider writes)."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@dataclass(frozen=True)
class Pkcs12Content:
    key: pkcs12.PKCS12PrivateKeyTypes | None = field(repr=False)
    certificates: list[x509.Certificate]  # stored order: the key's certificate first, then the others


def load_pfx(blob: bytes) -> Pkcs12Content:
    """A password-less PFX (modern AES/SHA-256 ones too). Raises ValueError when it cannot be read."""
    loaded = pkcs12.load_pkcs12(blob, None)
    certs = ([loaded.cert.certificate] if loaded.cert else []) + [c.certificate for c in loaded.additional_certs]
    return Pkcs12Content(loaded.key, certs)


def _key_id(cert: x509.Certificate, extension: type) -> bytes | None:
    try:
        value = cert.extensions.get_extension_for_class(extension).value
    except x509.ExtensionNotFound:
        return None
    return value.key_identifier if extension is x509.AuthorityKeyIdentifier else value.digest


def order_chain(certs: list[x509.Certificate]) -> list[x509.Certificate] | None:
    """Leaf → intermediates → root by matching Authority to Subject Key Identifiers.

    The same walk as the Azure provider: each certificate's parent is the one whose Subject Key
    Id equals its Authority Key Id; the leaf is the one that is nobody's parent. Returns None when
    the walk does not cover every certificate (an incomplete or ambiguous chain).
    """
    if len(certs) < 2:
        return list(certs)
    subject_ids = [_key_id(c, x509.SubjectKeyIdentifier) for c in certs]
    authority_ids = [_key_id(c, x509.AuthorityKeyIdentifier) for c in certs]
    parent: dict[int, int] = {}
    is_parent: set[int] = set()
    for i in range(len(certs)):
        for j in range(len(certs)):
            if i == j or authority_ids[i] is None or subject_ids[j] is None:
                continue
            if authority_ids[i] == subject_ids[j]:
                parent[i] = j
                is_parent.add(j)
                break
    leaves = [i for i in range(len(certs)) if i not in is_parent]
    if not leaves:
        return None
    ordered, node, seen = [], leaves[0], set()
    while node is not None and node not in seen:
        seen.add(node)
        ordered.append(certs[node])
        node = parent.get(node)
    return ordered if len(ordered) == len(certs) else None

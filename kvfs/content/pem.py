"""PEM and PKCS#12 plumbing shared by the renderer and the Kubernetes TLS helper (cryptography only)."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from .value_decoding import strict_base64

CERTIFICATE = "CERTIFICATE"
_BEGIN = b"\n-----BEGIN "
_END = b"\n-----END "
_DASHES = b"-----"


@dataclass(frozen=True)
class PemBlock:
    """One decoded PEM block, as Go's ``pem.Decode`` returns it."""

    type: str
    der: bytes = field(repr=False)
    headers: tuple[tuple[str, str], ...] = ()  # RFC 1421 headers such as Proc-Type, in the order read

    @property
    def text(self) -> bytes:
        """The block re-encoded as Go's ``pem.EncodeToMemory`` writes it: LF endings, 64-column base64,
        ``Proc-Type`` first and the other headers sorted (what the provider and driver write)."""
        kind = self.type.encode("latin-1")
        lines = [b"-----BEGIN " + kind + b"-----"]
        headers = dict(self.headers)
        if headers:
            ordered = sorted(headers, key=lambda k: (k != "Proc-Type", k))
            lines += [f"{k}: {headers[k]}".encode("latin-1") for k in ordered]
            lines.append(b"")
        body = base64.b64encode(self.der)
        lines += [body[i : i + 64] for i in range(0, len(body), 64)]
        lines.append(b"-----END " + kind + b"-----")
        return b"\n".join(lines) + b"\n"


def pem_blocks(data: bytes) -> list[PemBlock]:
    """Every PEM block in ``data``, in order, by Go's ``pem.Decode`` rules (the provider's and the driver's).

    Text around blocks is ignored, and so is a block Go would refuse (a bad END line, invalid base64):
    the search goes on after its BEGIN line, as Go's does.
    """
    blocks = []
    while True:
        block, data = _decode_one(data)
        if block is None:
            return blocks
        blocks.append(block)


def _line(data: bytes) -> tuple[bytes, bytes]:
    """Go's ``getLine``: up to the first LF (a CR before it dropped), trailing spaces and tabs trimmed."""
    end = data.find(b"\n")
    if end < 0:
        end = after = len(data)
    else:
        after = end + 1
        if end > 0 and data[end - 1 : end] == b"\r":
            end -= 1
    return data[:end].rstrip(b" \t"), data[after:]


def _decode_one(data: bytes) -> tuple[PemBlock | None, bytes]:
    rest = data
    while True:
        if rest.startswith(_BEGIN[1:]):
            rest = rest[len(_BEGIN) - 1 :]
        else:
            found = rest.find(_BEGIN)
            if found < 0:
                return None, data
            rest = rest[found + len(_BEGIN) :]
        type_line, rest = _line(rest)
        if not type_line.endswith(_DASHES):
            continue
        block_type = type_line[: -len(_DASHES)]
        headers: list[tuple[str, str]] = []
        while True:
            if not rest:
                return None, data
            line, following = _line(rest)
            key, colon, value = line.partition(b":")
            if not colon:
                break
            headers.append((key.strip().decode("latin-1"), value.strip().decode("latin-1")))
            rest = following
        if not headers and rest.startswith(_END[1:]):
            end, trailer_at = 0, len(_END) - 1
        else:
            end = rest.find(_END)
            trailer_at = end + len(_END)
        if end < 0:
            continue
        trailer = rest[trailer_at:]
        trailer_length = len(block_type) + len(_DASHES)
        if len(trailer) < trailer_length:
            continue
        after_trailer, trailer = trailer[trailer_length:], trailer[:trailer_length]
        if not trailer.startswith(block_type) or not trailer.endswith(_DASHES):
            continue
        if _line(after_trailer)[0]:  # only whitespace may follow the END line's dashes
            continue
        try:
            der = strict_base64(rest[:end].replace(b" ", b"").replace(b"\t", b""))
        except ValueError:
            continue
        unique = dict(headers)  # a repeated header keeps its last value, as Go's map does
        block = PemBlock(block_type.decode("latin-1"), der, tuple(unique.items()))
        return block, _line(rest[end + len(_END) - 1 :])[1]


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
    """A key identifier, or None when absent. Raises ValueError when the extensions cannot be parsed
    (cryptography reads them only now, and raises DuplicateExtension for a repeated one)."""
    try:
        value = cert.extensions.get_extension_for_class(extension).value
    except x509.ExtensionNotFound:
        return None
    except x509.DuplicateExtension as exc:
        raise ValueError("duplicate certificate extension") from exc
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

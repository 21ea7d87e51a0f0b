"""tls.crt / tls.key for kubernetes.io/tls Secrets, as the CSI driver takes them apart."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization

from kvfs.content.pem import pem_blocks
from kvfs.content.tls import TlsSplitError, split_tls
from tests.pki import make_chain, pem_of


@pytest.mark.parametrize(("kind", "key_type"), [("rsa", "RSA PRIVATE KEY"), ("p256", "EC PRIVATE KEY")])
def test_pem_content_splits_into_certificates_and_a_reencoded_key(kind: str, key_type: str) -> None:
    chain = make_chain(kind)
    pair = split_tls(chain.pem())
    assert [b.type for b in pem_blocks(pair.certificate)] == ["CERTIFICATE"] * 3
    assert [b.type for b in pem_blocks(pair.key)] == [key_type]
    assert serialization.load_pem_private_key(pair.key, None).public_key() == chain.leaf.public_key()


def test_binary_pfx_content_splits_too() -> None:
    chain = make_chain("p384")
    pair = split_tls(chain.pfx())
    assert pair.certificate.startswith(b"-----BEGIN CERTIFICATE-----")
    assert [b.type for b in pem_blocks(pair.key)] == ["EC PRIVATE KEY"]


@pytest.mark.parametrize("content", [b"just text", b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"])
def test_content_without_a_key_is_an_error(content: bytes) -> None:
    with pytest.raises(TlsSplitError):
        split_tls(content)


def test_certificates_are_reencoded_as_the_driver_writes_them_whatever_the_stored_line_ends() -> None:
    """The driver's getCert re-encodes each block (pem.EncodeToMemory: LF, 64 columns)."""
    chain = make_chain("rsa")
    stored = chain.pem().replace(b"\n", b"\r\n")
    pair = split_tls(stored)
    assert pair.certificate == b"".join(pem_of(c) for c in chain.leaf_first)
    assert b"\r" not in pair.key


def test_an_encrypted_key_is_an_error_not_a_traceback() -> None:
    chain = make_chain("p256")
    encrypted = chain.leaf_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"pw")
    )
    with pytest.raises(TlsSplitError, match="cannot be read"):
        split_tls(encrypted + pem_of(chain.leaf))

"""tls.crt / tls.key for kubernetes.io/tls Secrets, as the CSI driver takes them apart."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization

from kvfs.pem import pem_blocks
from kvfs.tls import TlsSplitError, split_tls
from tests.pki import make_chain


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

"""Sample objects for ``kvfs demo``: one secret, one key and one certificate with a chain."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

import trustme

from .certs import PEM

if TYPE_CHECKING:
    from .fake import FakeVault


def demo_objects(fv: FakeVault) -> None:
    """Create ``demo-password`` (random text), ``demo-signing-key`` (RSA 2048) and ``demo-tls``.

    ``demo-tls`` is a leaf for ``demo.kvfs.local`` issued by a generated CA, imported as PEM (key, leaf,
    CA) through the import route's code path, so its secret is ``application/x-pem-file``.
    """
    fv.set_secret("demo-password", secrets.token_urlsafe(24), content_type="text/plain")
    fv.create_key("demo-signing-key", "RSA", size=2048)
    ca = trustme.CA(organization_name="kvfs demo CA", key_type=trustme.KeyType.RSA)
    leaf = ca.issue_cert("demo.kvfs.local", common_name="demo.kvfs.local", key_type=trustme.KeyType.RSA)
    bundle = leaf.private_key_pem.bytes() + leaf.cert_chain_pems[0].bytes() + ca.cert_pem.bytes()
    fv.import_certificate("demo-tls", bundle, content_type=PEM)

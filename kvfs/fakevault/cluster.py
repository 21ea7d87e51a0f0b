"""The fake Kubernetes cluster's service-account token issuer: what signs the federated token file.

Entra trusts a cluster through its OIDC issuer URL and the keys that issuer publishes; here the "published"
key is this object's own ECDSA key, so a token from another fake, or one edited by hand, fails the check.
ES256 rather than AKS's RS256: kube-apiserver accepts both, and an RSA key would cost every FakeVault ~35 ms.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
import uuid
from collections.abc import Callable
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from .keys import b64url, b64url_decode

FEDERATION_AUDIENCE = "api://AzureADTokenExchange"
FEDERATED_SUBJECT = "system:serviceaccount:kvfs:kvfs"
_COORDINATE = 32  # bytes of a P-256 coordinate; an ES256 signature is r || s


class Cluster:
    """Mints and verifies service-account-like JWTs (``iss``, ``sub``, ``aud`` list, ``exp``, ``nbf``)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())
        public = self._key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        #: Like kube-apiserver's: the base64url SHA-256 of the public key.
        self.kid = b64url(hashlib.sha256(public).digest())
        self._clock = clock
        #: ``https://host:port/oidc``; set by the FakeVault once it listens.
        self.issuer = "https://fake-cluster.invalid/oidc"

    def mint(
        self,
        *,
        subject: str = FEDERATED_SUBJECT,
        issuer: str | None = None,
        audience: str = FEDERATION_AUDIENCE,
        lifetime: float = 3600,
        not_before: float | None = None,
    ) -> str:
        """A signed token; ``exp`` = now + ``lifetime`` (rounded up, so a 2 s token lives at least 2 s)."""
        now = self._clock()
        claims: dict[str, Any] = {
            "aud": [audience],
            "exp": math.ceil(now + lifetime),
            "iat": int(now),
            "iss": self.issuer if issuer is None else issuer,
            "jti": str(uuid.uuid4()),
            "nbf": int(now) if not_before is None else int(not_before),
            "sub": subject,
        }
        namespace, _, account = subject.removeprefix("system:serviceaccount:").partition(":")
        if subject.startswith("system:serviceaccount:") and account:
            claims["kubernetes.io"] = {
                "namespace": namespace,
                "serviceaccount": {"name": account, "uid": str(uuid.uuid4())},
            }
        return self._sign(claims)

    def _sign(self, claims: dict[str, Any]) -> str:
        header = b64url(json.dumps({"alg": "ES256", "kid": self.kid}, separators=(",", ":")).encode())
        payload = b64url(json.dumps(claims, separators=(",", ":")).encode())
        der = self._key.sign(f"{header}.{payload}".encode(), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        return f"{header}.{payload}.{b64url(r.to_bytes(_COORDINATE, 'big') + s.to_bytes(_COORDINATE, 'big'))}"

    def verify(self, header: dict[str, Any], token: str) -> str:
        """Empty string when ``token`` (already parsed into ``header``) carries our signature, else why not:
        ``"kid"`` for a key we never published, ``"signature"`` for a signature that does not match."""
        if header.get("kid") != self.kid:
            return "kid"
        signing_input, _, signature = token.rpartition(".")
        try:
            raw = b64url_decode(signature)
        except ValueError:
            return "signature"
        if header.get("alg") != "ES256" or len(raw) != 2 * _COORDINATE:
            return "signature"
        der = encode_dss_signature(int.from_bytes(raw[:_COORDINATE], "big"), int.from_bytes(raw[_COORDINATE:], "big"))
        try:
            self._key.public_key().verify(der, signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            return "signature"
        return ""

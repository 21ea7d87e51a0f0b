"""Federated identity credentials of the fake application, and the check Entra makes on a client assertion.

Entra accepts a Kubernetes service-account token only when it is within its time range and one of the
application's federated credentials names its issuer, subject and audience, and then only with a valid
signature from that issuer's published keys (here: the fake cluster's key, whatever the issuer).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .cluster import FEDERATION_AUDIENCE, Cluster
from .entra import ASSERTION_DOCS, FEDERATION_DOCS, iso_time
from .keys import b64url_decode


@dataclass(frozen=True)
class FederatedCredential:
    issuer: str
    subject: str
    audience: str = FEDERATION_AUDIENCE


@dataclass(frozen=True)
class Rejection:
    """Why Entra refuses an assertion: the HTTP status, OAuth ``error``, AADSTS code and description."""

    status: int
    error: str
    code: int
    description: str


def _parse(token: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        header, claims = (json.loads(b64url_decode(part)) for part in parts[:2])
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        return None
    return header, claims


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _audiences(claims: dict[str, Any]) -> list[str]:
    aud = claims.get("aud")
    if isinstance(aud, str):
        return [aud]
    return [a for a in aud if isinstance(a, str)] if isinstance(aud, list) else []


def _unknown_issuer(issuer: str) -> Rejection:
    return Rejection(
        401,
        "invalid_client",
        700211,
        f"No matching federated identity record found for presented assertion issuer '{issuer}'. Please check "
        "your federated identity credential Subject, Audience and Issuer against the presented assertion. "
        f"{FEDERATION_DOCS}",
    )


class Federation:
    """The application's federated identity credentials (thread-safe) and the assertion check."""

    def __init__(self, cluster: Cluster, clock: Callable[[], float] = time.time) -> None:
        self._cluster = cluster
        self._clock = clock
        self._lock = threading.Lock()
        self._credentials: list[FederatedCredential] = []

    def add(self, issuer: str, subject: str, audience: str = FEDERATION_AUDIENCE) -> None:
        credential = FederatedCredential(issuer, subject, audience)
        with self._lock:
            if credential not in self._credentials:
                self._credentials.append(credential)

    def clear(self) -> None:
        with self._lock:
            self._credentials.clear()

    def list(self) -> list[FederatedCredential]:
        with self._lock:
            return list(self._credentials)

    def check(self, assertion: str) -> Rejection | None:
        """None when Entra would accept ``assertion``; else the rejection it would answer.

        Order: time range (700024), issuer (700211), subject and audience (70021), signature (7000272 for a
        key the issuer never published, 700027 for a signature that does not verify). A token that is not a
        JWT, or has no numeric ``exp``, is answered 700211, as an assertion without a known issuer.
        """
        parsed = _parse(assertion.strip())
        if parsed is None:
            return _unknown_issuer("")
        header, claims = parsed
        issuer = claims.get("iss") if isinstance(claims.get("iss"), str) else ""
        exp, nbf = claims.get("exp"), claims.get("nbf", 0)
        if not _number(exp) or not _number(nbf):
            return _unknown_issuer(issuer)
        now = self._clock()
        if now < nbf or now >= exp:
            return Rejection(
                401,
                "invalid_client",
                700024,
                f"Client assertion is not within its valid time range. Current time: {iso_time(now)}, assertion "
                f"valid from {iso_time(nbf)}, expiry time of assertion {iso_time(exp)}. Review the documentation "
                f"at {ASSERTION_DOCS} .",
            )
        credentials = [c for c in self.list() if c.issuer == issuer]
        if not credentials:
            return _unknown_issuer(issuer)
        subject = claims.get("sub") if isinstance(claims.get("sub"), str) else ""
        audiences = _audiences(claims)
        if not any(c.subject == subject and c.audience in audiences for c in credentials):
            return Rejection(
                400,
                "invalid_request",
                70021,
                f"No matching federated identity record found for presented assertion. Assertion Issuer: '{issuer}'. "
                f"Assertion Subject: '{subject}'. Assertion Audience: '{', '.join(audiences)}'. {FEDERATION_DOCS}",
            )
        failure = self._cluster.verify(header, assertion.strip())
        if failure == "kid":
            return Rejection(
                401,
                "invalid_client",
                7000272,
                f"The certificate with identifier {header.get('kid', '')} used to sign the federated credential could "
                f"not be found in the metadata of identity provider {issuer}. Please validate that your Identity "
                "Provider's metadata exposes the key used to sign the incoming token.",
            )
        if failure:
            return Rejection(
                401,
                "invalid_client",
                700027,
                "Client assertion contains an invalid signature. [Reason - The provided signature value did not "
                "match the expected signature value.]",
            )
        return None

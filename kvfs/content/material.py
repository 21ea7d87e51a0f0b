"""What the backend hands to the renderer: one version of one Key Vault object, SDK-free.

Keeping these plain dataclasses lets ``render`` stay pure and testable without the SDK, and the
``repr=False`` fields keep secret values out of logs and tracebacks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class VersionInfo:
    """Identity and times of one version, as Key Vault reports them."""

    name: str
    version: str
    created: datetime | None
    updated: datetime | None
    enabled: bool = True


@dataclass(frozen=True)
class SecretMaterial:
    info: VersionInfo
    value: str = field(repr=False)
    content_type: str | None = None
    kid: str | None = None  # set when the secret backs a certificate


@dataclass(frozen=True)
class KeyMaterial:
    """A key's public JWK fields (binary fields as raw bytes)."""

    info: VersionInfo
    kty: str
    n: bytes | None = None
    e: bytes | None = None
    crv: str | None = None
    x: bytes | None = None
    y: bytes | None = None


@dataclass(frozen=True)
class CertificateMaterial:
    info: VersionInfo
    cer: bytes  # the leaf certificate, DER


Material = SecretMaterial | KeyMaterial | CertificateMaterial

"""What the fake vault stores: objects (secrets, keys, certificates) and their versions, as plain records.

The state keeps them and changes them under its lock; ``bundles`` turns them into the service's JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Version:
    """One version of a secret, key or certificate. Only the fields of its collection are set."""

    id: str
    seq: int
    created: int
    updated: int
    enabled: bool = True
    nbf: int | None = None
    exp: int | None = None
    tags: dict[str, str] = field(default_factory=dict)
    value: str | None = None  # secrets
    content_type: str | None = None  # secrets
    jwk: dict[str, Any] | None = None  # keys (private members included)
    key_ops: list[str] | None = None  # keys
    cer: str | None = None  # certificates
    x5t: str | None = None  # certificates


@dataclass
class Item:
    """A named object: its versions in creation order (the last is the current one)."""

    name: str
    versions: list[Version] = field(default_factory=list)
    managed: bool = False  # a secret or key that backs a certificate
    policy: dict[str, Any] | None = None  # certificates
    operation: dict[str, Any] | None = None  # certificates: the last create's operation (wire shape, no id)
    pending_key: bytes | None = None  # certificates: PKCS#8 PEM of the key awaiting a merge
    preserve_order: bool | None = None  # certificates: preserveCertOrder as last given
    pending_tags: dict[str, str] | None = None  # certificates: tags and attributes given to a create that
    pending_attrs: dict[str, Any] = field(default_factory=dict)  # awaits a merge, for the merged version
    rotation_policy: dict[str, Any] | None = None  # keys

"""Storage of the fake vault: objects and versions by collection and name, behind one lock, and the checks
every operation shares (names, attributes, tags, paging tokens, deleted names, certificate-managed objects).

Names are case-insensitive, as in Key Vault; the spelling of the first version is kept.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from .errors import FakeVaultError, bad_parameter, not_found
from .issuers import CertificateSettings
from .objects import Item, Version

COLLECTIONS = ("secrets", "keys", "certificates")
NAME_RE = re.compile(r"^[0-9a-zA-Z-]{1,127}$")
PAGE_SIZE = 25
#: Placeholder used in ids for calls made before the server has a URL.
UNSTARTED_URL = "https://fake-vault.invalid/"


def with_parts(collection: str) -> tuple[str, ...]:
    """The collections an object of ``collection`` spans: a certificate is also a key and a secret of its name,
    deleted, recovered, backed up and purged together."""
    return ("certificates", "keys", "secrets") if collection == "certificates" else (collection,)


def check_collection(collection: str) -> None:
    if collection not in COLLECTIONS:
        raise ValueError(f"collection must be one of {', '.join(COLLECTIONS)}, not {collection!r}")


def check_name(name: str) -> None:
    if not NAME_RE.match(name):
        raise bad_parameter(
            f"The request URI contains an invalid name: {name[:130]!r}. Names are 1-127 characters: "
            "letters, digits and dashes."
        )


def _optional_int(attrs: dict[str, Any], key: str) -> int | None:
    value = attrs.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise bad_parameter(f"Attribute '{key}' must be a unix time in seconds.")
    return int(value)


def parse_attributes(body: dict[str, Any], key: str = "attributes") -> dict[str, Any]:
    """``enabled``/``nbf``/``exp`` given in a body; read-only attributes are ignored like the service does."""
    attrs = body.get(key)
    if attrs is None:
        return {}
    if not isinstance(attrs, dict):
        raise bad_parameter(f"'{key}' must be an object.")
    out: dict[str, Any] = {}
    if attrs.get("enabled") is not None:
        if not isinstance(attrs["enabled"], bool):
            raise bad_parameter("Attribute 'enabled' must be true or false.")
        out["enabled"] = attrs["enabled"]
    for name in ("nbf", "exp"):
        if name in attrs:
            out[name] = _optional_int(attrs, name)
    return out


def parse_tags(body: dict[str, Any]) -> dict[str, str] | None:
    tags = body.get("tags")
    if tags is None:
        return None
    if not isinstance(tags, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in tags.items()):
        raise bad_parameter("'tags' must be an object of string values.")
    return dict(tags)


def optional_str(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise bad_parameter(f"'{key}' must be a string.")
    return value


def optional_bool(body: dict[str, Any], key: str) -> bool | None:
    value = body.get(key)
    if value is not None and not isinstance(value, bool):
        raise bad_parameter(f"'{key}' must be true or false.")
    return value


def encode_skiptoken(marker: str) -> str:
    raw = json.dumps({"NextMarker": marker, "TargetLocation": 0}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_skiptoken(token: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        marker = json.loads(raw)["NextMarker"]
    except (ValueError, KeyError, TypeError) as exc:
        raise bad_parameter("The $skiptoken is not valid.") from exc
    if not isinstance(marker, str):
        raise bad_parameter("The $skiptoken is not valid.")
    return marker


def page_by_name(keys: Iterable[str], *, maxresults: int, skiptoken: str | None) -> tuple[list[str], str | None]:
    """One page of lower-case ``keys`` in name order after the ``$skiptoken``, and the next page's token."""
    marker = decode_skiptoken(skiptoken) if skiptoken else ""
    after = sorted(k for k in keys if k > marker)
    page = after[:maxresults]
    return page, (encode_skiptoken(page[-1]) if len(after) > maxresults else None)


class ObjectStore:
    """The objects of one fake vault and the helpers that operations call with the lock held."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._lock = threading.RLock()
        self._clock = clock
        self._items: dict[str, dict[str, Item]] = {c: {} for c in COLLECTIONS}
        self._deleted: dict[str, dict[str, tuple[Item, int]]] = {c: {} for c in COLLECTIONS}
        # Backups by token: copies kept here, so a blob is opaque, restores only into this fake, and carries
        # nothing a client could make the server execute.
        self._backups: dict[str, tuple[str, dict[str, Item]]] = {}
        self._seq = 0
        #: Issuers and contacts: vault-wide certificate settings.
        self.settings = CertificateSettings(self._now)
        #: Base of every id, ``https://host:port/``; set by the server once it listens.
        self.vault_url = UNSTARTED_URL

    # -- helpers (lock held) -------------------------------------------------------------

    def _now(self) -> int:
        return int(self._clock())

    def _new_version(self, now: int, version_id: str | None = None) -> Version:
        self._seq += 1
        return Version(id=version_id or uuid.uuid4().hex, seq=self._seq, created=now, updated=now)

    def _item(self, collection: str, name: str) -> Item:
        check_name(name)
        item = self._items[collection].get(name.lower())
        if item is None or not item.versions:
            raise not_found(collection, name)
        return item

    def _version(self, collection: str, name: str, version: str) -> tuple[Item, Version]:
        item = self._item(collection, name)
        if not version:
            return item, item.versions[-1]
        wanted = version.lower()
        for v in item.versions:
            if v.id == wanted:
                return item, v
        raise not_found(collection, name, version)

    def _check_not_deleted(self, collection: str, name: str) -> None:
        if name.lower() in self._deleted[collection]:
            kind = collection[:-1].capitalize()
            raise FakeVaultError(
                409,
                "Conflict",
                f"{kind} {name} is currently in a deleted but recoverable state, and its name cannot be "
                f"reused; in this state, the {kind.lower()} can only be recovered or purged.",
                inner="ObjectIsDeletedButRecoverable",
            )

    def _check_unmanaged(self, collection: str, name: str) -> None:
        item = self._items[collection].get(name.lower())
        if item is not None and item.managed:
            raise FakeVaultError(
                409,
                "Conflict",
                f"The {collection[:-1]} {name} is managed by a certificate and cannot be "
                "changed directly; import a new version of the certificate instead.",
            )

    def _add_unmanaged_version(
        self, collection: str, name: str, attrs: dict[str, Any], **fields: Any
    ) -> tuple[Item, Version]:
        """A new version of a plain secret or key (caller holds the lock): ``fields`` then ``attrs`` set on it."""
        self._check_not_deleted(collection, name)
        self._check_unmanaged(collection, name)
        v = self._new_version(self._now())
        for key, val in {**fields, **attrs}.items():
            setattr(v, key, val)
        return self._add_version(collection, name, v), v

    def _add_version(self, collection: str, name: str, version: Version, *, managed: bool = False) -> Item:
        item = self._items[collection].setdefault(name.lower(), Item(name=name, managed=managed))
        item.versions.append(version)
        return item

    def _deleted_entry(self, collection: str, name: str) -> tuple[Item, int]:
        """A deleted-but-recoverable object and when it was deleted, or 404."""
        check_name(name)
        found = self._deleted[collection].get(name.lower())
        if found is None:
            raise not_found(collection, name)
        return found

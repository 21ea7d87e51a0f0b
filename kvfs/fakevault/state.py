"""The vault's objects and their versions, in memory, behind one lock.

Every operation takes a request body shaped like the REST API's (so the HTTP routes and the direct
Python API share one code path), validates it, changes state under the lock, and returns the response
body. Names are case-insensitive, as in Key Vault; the spelling of the first version is kept.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import secrets as secrets_module
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from . import bundles, certs, issuance, keyops, keys, rotation
from .errors import FakeVaultError, bad_parameter, disabled, not_found
from .issuers import CertificateSettings
from .objects import Item, Version

COLLECTIONS = ("secrets", "keys", "certificates")
BACKUP_PREFIX = "kvfs-fake-vault-backup:"  # restore accepts only blobs this fake made
NAME_RE = re.compile(r"^[0-9a-zA-Z-]{1,127}$")
PAGE_SIZE = 25
#: The service's limit on a secret value (bytes, UTF-8).
MAX_SECRET_BYTES = 25 * 1024
#: Placeholder used in ids for calls made before the server has a URL.
UNSTARTED_URL = "https://fake-vault.invalid/"


def _with_parts(collection: str) -> tuple[str, ...]:
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


def _parse_attributes(body: dict[str, Any], key: str = "attributes") -> dict[str, Any]:
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


def _parse_tags(body: dict[str, Any]) -> dict[str, str] | None:
    tags = body.get("tags")
    if tags is None:
        return None
    if not isinstance(tags, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in tags.items()):
        raise bad_parameter("'tags' must be an object of string values.")
    return dict(tags)


def _optional_str(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise bad_parameter(f"'{key}' must be a string.")
    return value


def _optional_bool(body: dict[str, Any], key: str) -> bool | None:
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


class VaultState:
    """All objects of one fake vault. Thread-safe: every public method takes the lock."""

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

    # -- reads -----------------------------------------------------------------------------

    def get(self, collection: str, name: str, version: str = "") -> dict[str, Any]:
        """GET one version (``""`` = the current one). A disabled secret version is refused with 403; a
        disabled key or certificate is returned with ``enabled: false``, as Key Vault does."""
        with self._lock:
            item, v = self._version(collection, name, version)
            if not v.enabled and collection == "secrets":
                raise disabled(collection)
            return bundles.bundle(self.vault_url, collection, item, v)

    def get_policy(self, name: str) -> dict[str, Any]:
        """A certificate's policy; a certificate still awaiting its first version has one too."""
        check_name(name)
        with self._lock:
            item = self._items["certificates"].get(name.lower())
            if item is None or item.policy is None:
                raise not_found("certificates", name)
            return bundles.policy(self.vault_url, item)

    def list_page(self, collection: str, *, maxresults: int, skiptoken: str | None) -> tuple[list[dict], str | None]:
        """One page of current versions, ordered by name; returns ``(items, next marker or None)``."""
        marker = decode_skiptoken(skiptoken) if skiptoken else ""
        with self._lock:
            names = sorted(k for k, item in self._items[collection].items() if item.versions and k > marker)
            page = names[:maxresults]
            out = [
                bundles.list_item(self.vault_url, collection, item, item.versions[-1], versioned_id=False)
                for item in (self._items[collection][k] for k in page)
            ]
            more = len(names) > maxresults
            return out, (encode_skiptoken(page[-1]) if more else None)

    def list_versions_page(
        self, collection: str, name: str, *, maxresults: int, skiptoken: str | None
    ) -> tuple[list[dict], str | None]:
        """One page of an object's versions, oldest first (none, not 404, when the object does not exist)."""
        marker = 0
        if skiptoken:
            try:
                marker = int(decode_skiptoken(skiptoken))
            except ValueError as exc:
                raise bad_parameter("The $skiptoken is not valid.") from exc
        check_name(name)
        with self._lock:
            item = self._items[collection].get(name.lower())
            if item is None:
                return [], None
            rest = [v for v in item.versions if v.seq > marker]
            page = rest[:maxresults]
            out = [bundles.list_item(self.vault_url, collection, item, v, versioned_id=True) for v in page]
            more = len(rest) > maxresults
            return out, (encode_skiptoken(str(page[-1].seq)) if more else None)

    # -- secrets -----------------------------------------------------------------------------

    def set_secret(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """``PUT /secrets/{name}``: a new version."""
        check_name(name)
        value = body.get("value")
        if not isinstance(value, str):
            raise bad_parameter("The secret 'value' must be a string.")
        if len(value.encode("utf-8")) > MAX_SECRET_BYTES:
            raise bad_parameter(f"The secret value is larger than the service limit of {MAX_SECRET_BYTES} bytes.")
        content_type = _optional_str(body, "contentType")
        tags = _parse_tags(body)
        attrs = _parse_attributes(body)
        with self._lock:
            item, v = self._add_unmanaged_version(
                "secrets", name, attrs, value=value, content_type=content_type, tags=tags or {}
            )
            return bundles.secret(self.vault_url, item, v)

    # -- keys -----------------------------------------------------------------------------------

    def create_key(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /keys/{name}/create``."""
        check_name(name)
        kty = body.get("kty")
        if not isinstance(kty, str):
            raise bad_parameter("'kty' is required.")
        for member in ("key_size", "public_exponent"):
            if body.get(member) is not None and not isinstance(body[member], int):
                raise bad_parameter(f"'{member}' must be an integer.")
        jwk = keys.generate(
            kty,
            key_size=body.get("key_size"),
            crv=_optional_str(body, "crv"),
            public_exponent=body.get("public_exponent"),
        )
        return self._store_key(name, jwk, body)

    def import_key(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """``PUT /keys/{name}`` with a JWK; private members are kept but never returned."""
        check_name(name)
        hsm = body.get("Hsm")
        jwk = keys.validate_import(body.get("key"), hsm=hsm is True)
        return self._store_key(name, jwk, body)

    def _store_key(self, name: str, jwk: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        ops = body.get("key_ops", jwk.get("key_ops"))
        if ops is not None and not (isinstance(ops, list) and all(isinstance(o, str) for o in ops)):
            raise bad_parameter("'key_ops' must be a list of strings.")
        tags = _parse_tags(body)
        attrs = _parse_attributes(body)
        with self._lock:
            item, v = self._add_unmanaged_version(
                "keys",
                name,
                attrs,
                jwk={k: val for k, val in jwk.items() if k != "key_ops"},
                key_ops=list(ops) if ops is not None else keys.default_ops(jwk["kty"]),
                tags=tags or {},
            )
            return bundles.key(self.vault_url, item, v)

    def rotate_key(self, name: str) -> dict[str, Any]:
        """``POST /keys/{name}/rotate``: a new version of the same type, size and operations; it expires after
        the rotation policy's ``expiryTime`` when there is one."""
        with self._lock:
            item, current = self._version("keys", name, "")
            self._check_unmanaged("keys", name)
            assert current.jwk is not None
            template = dict(current.jwk)
        jwk = keys.regenerate(template)  # outside the lock: RSA generation is slow
        with self._lock:
            item, current = self._version("keys", name, "")
            policy = item.rotation_policy
            v = self._new_version(self._now())
            v.jwk, v.key_ops = jwk, list(current.key_ops or keys.default_ops(jwk["kty"]))
            if policy is not None and policy["expiryTime"] is not None:
                v.exp = v.created + rotation.duration_days(policy["expiryTime"], "expiryTime") * 86400
            self._add_version("keys", item.name, v)
            return bundles.key(self.vault_url, item, v)

    def get_rotation_policy(self, name: str) -> dict[str, Any]:
        """``GET /keys/{name}/rotationpolicy``: the key's policy, or the default one."""
        with self._lock:
            item = self._item("keys", name)
            return rotation.policy_json(
                bundles.object_id(self.vault_url, "keys", item.name) + "/rotationpolicy", item.rotation_policy
            )

    def set_rotation_policy(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """``PUT /keys/{name}/rotationpolicy``: replaces the policy (an empty one restores the default)."""
        parsed = rotation.parse_policy(body)
        with self._lock:
            item = self._item("keys", name)
            self._check_unmanaged("keys", name)
            now = self._now()
            created = item.rotation_policy["created"] if item.rotation_policy else now
            item.rotation_policy = {**parsed, "created": created, "updated": now}
            return rotation.policy_json(
                bundles.object_id(self.vault_url, "keys", item.name) + "/rotationpolicy", item.rotation_policy
            )

    # -- certificates ------------------------------------------------------------------------------

    def import_certificate(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /certificates/{name}/import``: one version of the certificate, its key and its secret."""
        check_name(name)
        value = body.get("value")
        if not isinstance(value, str) or not value:
            raise bad_parameter("The certificate 'value' (base64 PFX or PEM) is required.")
        password = _optional_str(body, "pwd")
        requested = body.get("policy") or {}
        if not isinstance(requested, dict):
            raise bad_parameter("'policy' must be an object.")
        key_req = requested.get("key_props") or {}
        secret_req = requested.get("secret_props") or {}
        if not isinstance(key_req, dict) or not isinstance(secret_req, dict):
            raise bad_parameter("'policy.key_props' and 'policy.secret_props' must be objects.")
        material = certs.parse_upload(certs.decode_upload(value), password)
        content_type = _optional_str(secret_req, "contentType") or material.source_format
        if content_type not in certs.CONTENT_TYPES:
            raise bad_parameter(
                f"Unsupported certificate content type {content_type!r}; use {' or '.join(certs.CONTENT_TYPES)}."
            )
        key_props = certs.key_props(material, key_req)
        tags = _parse_tags(body)
        attrs = _parse_attributes(body)
        preserve = _optional_bool(body, "preserveCertOrder")
        with self._lock:
            self._check_certificate_name(name)
            item, cert_v = self._store_certificate(
                name, material, content_type, exportable=key_props["exportable"], attrs=attrs, tags=tags
            )
            item.policy = self._policy(item, requested, key_props, content_type, material, cert_v.created)
            if preserve is not None:
                item.preserve_order = preserve
            return bundles.certificate(self.vault_url, item, cert_v)

    def _check_certificate_name(self, name: str) -> None:
        """A certificate may take ``name`` unless it is deleted, or a plain secret or key has it (lock held)."""
        for collection in COLLECTIONS:
            self._check_not_deleted(collection, name)
        for collection in ("secrets", "keys"):
            existing = self._items[collection].get(name.lower())
            if existing is not None and not existing.managed:
                raise FakeVaultError(
                    409,
                    "Conflict",
                    f"There is already a {collection[:-1]} named {name} that is not managed by a certificate.",
                )

    def _store_certificate(
        self,
        name: str,
        material: certs.CertMaterial,
        content_type: str,
        *,
        exportable: bool,
        attrs: dict[str, Any],
        tags: dict[str, str] | None,
    ) -> tuple[Item, Version]:
        """One new version of a certificate and of its key and secret, sharing a version id (lock held)."""
        secret_value = certs.secret_value(material, content_type, exportable=exportable)
        nbf, exp = certs.validity(material.leaf)
        jwk = certs.public_key_jwk(material)
        now = self._now()
        version_id = uuid.uuid4().hex
        made = {}
        for collection in COLLECTIONS:
            v = self._new_version(now, version_id)
            v.nbf, v.exp = nbf, exp
            v.enabled = attrs.get("enabled", True)
            made[collection] = v
        cert_v, key_v, secret_v = made["certificates"], made["keys"], made["secrets"]
        cert_v.tags = tags or {}
        cert_v.cer, cert_v.x5t = certs.cer(material.leaf), certs.x5t(material.leaf)
        key_v.jwk = jwk
        key_v.key_ops = keys.default_ops(jwk["kty"])
        secret_v.value, secret_v.content_type = secret_value, content_type
        self._add_version("keys", name, key_v, managed=True)
        self._add_version("secrets", name, secret_v, managed=True)
        return self._add_version("certificates", name, cert_v), cert_v

    @staticmethod
    def _policy(
        item: Item,
        requested: dict[str, Any],
        key_props: dict[str, Any],
        content_type: str,
        material: certs.CertMaterial,
        now: int,
    ) -> dict[str, Any]:
        created = item.policy["attributes"]["created"] if item.policy else now
        issuer = requested.get("issuer")
        if not (isinstance(issuer, dict) and issuer.get("name")):
            issuer = None
        actions = requested.get("lifetime_actions")
        return {
            "key_props": key_props,
            "secret_props": {"contentType": content_type},
            "x509_props": certs.x509_props(material.leaf),
            "lifetime_actions": actions
            if isinstance(actions, list)
            else [{"trigger": {"lifetime_percentage": 80}, "action": {"action_type": "EmailContacts"}}],
            "issuer": issuer or {"name": "Unknown"},
            "attributes": {"enabled": True, "created": created, "updated": now},
        }

    # -- certificate creation, operations and policy -------------------------------------------------

    def create_certificate(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /certificates/{name}/create``: the operation. ``Self`` issues at once (the first poll finds
        the operation ``completed``); ``Unknown`` leaves it ``inProgress`` with a CSR until a merge; a named issuer
        or a platform-managed policy fails the operation, since the fake reaches no certificate authority."""
        check_name(name)
        requested = body.get("policy")
        tags = _parse_tags(body)
        attrs = _parse_attributes(body)
        preserve = _optional_bool(body, "preserveCertOrder")
        with self._lock:
            self._check_certificate_name(name)
            current = self._items["certificates"].get(name.lower())
            if requested is None and (current is None or current.policy is None):
                raise bad_parameter("'policy' is required to create the first version of a certificate.")
            policy = issuance.merge_policy(
                requested if requested is not None else {},
                current.policy if current else None,
                self._now(),
                replace=requested is not None,
            )
            reused = self._reusable_key(name, policy)
        issuer = issuance.issuer_of(policy)
        provider = self.settings.provider(issuer) if issuer not in ("", issuance.SELF, issuance.UNKNOWN) else None
        if issuer not in ("", issuance.SELF, issuance.UNKNOWN) and provider is None:
            raise bad_parameter(f"Issuer {issuer!r} of the policy is not an issuer of this vault, nor Self or Unknown.")
        key = reused or issuance.new_key(policy)  # generated outside the lock: RSA 4096 takes a second
        csr = issuance.signing_request(key, policy)
        issued = issuance.self_signed(key, policy, self._now()) if issuer == issuance.SELF else None
        operation: dict[str, Any] = {
            "issuer": copy.deepcopy(policy.get("issuer", {})),
            "csr": csr,
            "cancellation_requested": False,
            "request_id": uuid.uuid4().hex,
        }
        if issued is not None:
            operation["status"] = "completed"
        elif issuer == issuance.UNKNOWN:
            operation["status"] = "inProgress"
            operation["status_details"] = "Pending certificate created. Please Perform Merge to complete the request."
        else:
            what = f"issuer {issuer} (provider {provider})" if provider else "platform-managed certificates"
            message = f"The fake vault reaches no certificate authority: it cannot issue for {what}."
            error = {"code": "NotSupported", "message": message}
            operation.update(status="failed", status_details=message, error=error)

        with self._lock:
            self._check_certificate_name(name)
            item = self._items["certificates"].setdefault(name.lower(), Item(name=name))
            if item.operation is not None and item.operation["status"] == "inProgress":
                raise FakeVaultError(
                    409,
                    "Conflict",
                    f"Certificate {item.name} has a pending operation; merge, cancel or delete it first.",
                )
            item.policy = policy
            item.operation = operation
            item.pending_key = None
            if preserve is not None:
                item.preserve_order = preserve
            if issued is not None:
                content_type = policy["secret_props"]["contentType"]
                material = certs.material(key, (issued,), content_type)
                self._store_certificate(
                    name, material, content_type, exportable=policy["key_props"]["exportable"], attrs=attrs, tags=tags
                )
            elif operation["status"] == "inProgress":
                item.pending_key = key.private_bytes(
                    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
                )
                item.pending_tags, item.pending_attrs = tags, attrs
            answer = bundles.operation(self.vault_url, item)
        # The service answers every create while issuance runs, and the SDK's poller relies on it: a create
        # answered "completed" gives no result. The fake issues at once, so the first poll finds the outcome.
        answer["status"] = "inProgress"
        return answer

    def _reusable_key(self, name: str, policy: dict[str, Any]) -> issuance.PrivateKey | None:
        """The current certificate key when the policy says ``reuse_key`` and its type still fits (lock held)."""
        key_item = self._items["keys"].get(name.lower())
        if not policy["key_props"]["reuse_key"] or key_item is None or not key_item.versions:
            return None
        jwk = key_item.versions[-1].jwk
        assert jwk is not None
        wanted = policy["key_props"]
        if keys.base_type(jwk["kty"]) != keys.base_type(wanted["kty"]) or jwk.get("crv") != wanted.get("crv"):
            return None
        private = keyops.private_key(jwk)
        if wanted["kty"].startswith("RSA") and private.key_size != wanted["key_size"]:
            return None
        return private

    def _pending(self, name: str) -> Item:
        check_name(name)
        item = self._items["certificates"].get(name.lower())
        if item is None or item.operation is None:
            raise FakeVaultError(404, "PendingCertificateNotFound", f"Pending certificate not found: {name}.")
        return item

    def get_operation(self, name: str) -> dict[str, Any]:
        """``GET /certificates/{name}/pending``: the last create's operation, completed or not."""
        with self._lock:
            return bundles.operation(self.vault_url, self._pending(name))

    def cancel_operation(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """``PATCH /certificates/{name}/pending``: an operation still in progress is cancelled."""
        if body.get("cancellation_requested") is not True:
            raise bad_parameter("'cancellation_requested' must be true: an operation can only be cancelled.")
        with self._lock:
            item = self._pending(name)
            assert item.operation is not None
            item.operation["cancellation_requested"] = True
            if item.operation["status"] == "inProgress":
                item.operation["status"] = "cancelled"
                item.operation["status_details"] = "The certificate operation was cancelled."
                item.pending_key = None
            return bundles.operation(self.vault_url, item)

    def delete_operation(self, name: str) -> dict[str, Any]:
        """``DELETE /certificates/{name}/pending``: forget the operation (and a key awaiting a merge)."""
        with self._lock:
            item = self._pending(name)
            answer = bundles.operation(self.vault_url, item)
            item.operation, item.pending_key = None, None
            return answer

    def merge_certificate(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /certificates/{name}/pending/merge``: the signed certificate (and chain) for the pending key."""
        chain = issuance.merged_chain(body.get("x5c"))
        tags = _parse_tags(body)
        attrs = _parse_attributes(body)
        with self._lock:
            item = self._pending(name)
            if item.pending_key is None or item.policy is None:
                raise FakeVaultError(
                    403, "Forbidden", f"Certificate {item.name} has no operation awaiting a merge (Unknown issuer)."
                )
            key = serialization.load_pem_private_key(item.pending_key, None)
            assert isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey)
            try:
                material = certs.material(key, tuple(chain), item.policy["secret_props"]["contentType"])
            except FakeVaultError as exc:
                raise bad_parameter("The merged certificate's public key is not the pending key.") from exc
            content_type = item.policy["secret_props"]["contentType"]
            _, cert_v = self._store_certificate(
                name,
                material,
                content_type,
                exportable=item.policy["key_props"]["exportable"],
                attrs={**item.pending_attrs, **attrs},
                tags=tags if tags is not None else item.pending_tags,
            )
            assert item.operation is not None
            item.operation.pop("status_details", None)
            item.operation["status"] = "completed"
            item.pending_key = None
            return bundles.certificate(self.vault_url, item, cert_v)

    def update_policy(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """``PATCH /certificates/{name}/policy``: the given sections merge over the current policy; it applies
        to the next version."""
        check_name(name)
        with self._lock:
            item = self._items["certificates"].get(name.lower())
            if item is None or item.policy is None:
                raise not_found("certificates", name)
            item.policy = issuance.merge_policy(body, item.policy, self._now(), replace=False)
            return bundles.policy(self.vault_url, item)

    # -- updates ------------------------------------------------------------------------------------

    def replace_material(self, collection: str, name: str, version: str, material: dict[str, Any]) -> None:
        """Test hook: overwrite a version's stored ``value``, ``content_type``, ``jwk`` or ``cer`` as given,
        without the checks the API makes (for clients facing material the service's API would refuse)."""
        allowed = {"secrets": {"value", "content_type"}, "keys": {"jwk"}, "certificates": {"cer"}}[collection]
        unknown = set(material) - allowed
        if unknown:
            raise ValueError(f"{collection} versions hold {sorted(allowed)}, not {sorted(unknown)}")
        with self._lock:
            _, v = self._version(collection, name, version)
            for key, value in material.items():
                setattr(v, key, value)

    def update(self, collection: str, name: str, version: str, body: dict[str, Any]) -> dict[str, Any]:
        """``PATCH /{collection}/{name}/{version}``: attributes, tags, contentType or key_ops."""
        tags = _parse_tags(body)
        attrs = _parse_attributes(body)
        content_type = _optional_str(body, "contentType") if collection == "secrets" else None
        ops = body.get("key_ops") if collection == "keys" else None
        if ops is not None and not (isinstance(ops, list) and all(isinstance(o, str) for o in ops)):
            raise bad_parameter("'key_ops' must be a list of strings.")
        with self._lock:
            item, v = self._version(collection, name, version)
            for key, val in attrs.items():
                setattr(v, key, val)
            if tags is not None:
                v.tags = tags
            if content_type is not None:
                v.content_type = content_type
            if ops is not None:
                v.key_ops = list(ops)
            v.updated = self._now()
            if collection == "certificates" and "enabled" in attrs:
                self._propagate_enabled(item.name, v.id, attrs["enabled"], v.updated)
            if collection == "secrets":
                return bundles.secret(self.vault_url, item, v, with_value=False)
            return bundles.bundle(self.vault_url, collection, item, v)

    def _propagate_enabled(self, name: str, version_id: str, enabled: bool, now: int) -> None:
        """Disabling a certificate version disables its key and secret too."""
        for collection in ("keys", "secrets"):
            item = self._items[collection].get(name.lower())
            for v in item.versions if item else ():
                if v.id == version_id:
                    v.enabled, v.updated = enabled, now

    def set_enabled(self, collection: str, name: str, version: str | None, enabled: bool) -> str:
        """Enable or disable one version (``None`` = current); returns the version id."""
        check_collection(collection)
        bundle = self.update(collection, name, version or "", {"attributes": {"enabled": enabled}})
        ident = bundle["id"] if "id" in bundle else bundle["key"]["kid"]
        return ident.rsplit("/", 1)[1]

    # -- delete -------------------------------------------------------------------------------------

    def delete(self, collection: str, name: str) -> dict[str, Any]:
        """``DELETE /{collection}/{name}``: the object becomes deleted-but-recoverable (its name is blocked)."""
        with self._lock:
            item = self._item(collection, name)
            if item.managed:
                raise FakeVaultError(
                    403,
                    "Forbidden",
                    f"The {collection[:-1]} {item.name} is managed by a certificate; delete the certificate instead.",
                )
            now = self._now()
            related = _with_parts(collection)
            for coll in related:
                moved = self._items[coll].pop(name.lower(), None)
                if moved is not None:
                    self._deleted[coll][name.lower()] = (moved, now)
            return bundles.deleted(self.vault_url, collection, item, item.versions[-1], now)

    def get_deleted(self, collection: str, name: str) -> dict[str, Any]:
        with self._lock:
            check_name(name)
            found = self._deleted[collection].get(name.lower())
            if found is None:
                raise not_found(collection, name)
            item, when = found
            return bundles.deleted(self.vault_url, collection, item, item.versions[-1], when)

    def list_deleted_page(
        self, collection: str, *, maxresults: int, skiptoken: str | None
    ) -> tuple[list[dict], str | None]:
        """``GET /deleted{collection}``: one page of deleted-but-recoverable objects, ordered by name."""
        marker = decode_skiptoken(skiptoken) if skiptoken else ""
        with self._lock:
            names = sorted(k for k in self._deleted[collection] if k > marker)
            page = names[:maxresults]
            out = []
            for key in page:
                item, when = self._deleted[collection][key]
                out.append(bundles.deleted(self.vault_url, collection, item, item.versions[-1], when, listed=True))
            return out, (encode_skiptoken(page[-1]) if len(names) > maxresults else None)

    def recover(self, collection: str, name: str) -> dict[str, Any]:
        """``POST /deleted{collection}/{name}/recover``: back with every version (a certificate brings its key
        and secret back); the answer is the current version, as a GET would give it."""
        with self._lock:
            check_name(name)
            if name.lower() not in self._deleted[collection]:
                raise not_found(collection, name)
            related = _with_parts(collection)
            for coll in related:
                found = self._deleted[coll].pop(name.lower(), None)
                if found is not None:
                    self._items[coll][name.lower()] = found[0]
            item = self._items[collection][name.lower()]
            return bundles.bundle(self.vault_url, collection, item, item.versions[-1])

    # -- key operations --------------------------------------------------------------------------------

    def key_operation(self, name: str, version: str, operation: str, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /keys/{name}/{version}/{operation}`` (version may be empty: the current one)."""
        with self._lock:
            item, v = self._version("keys", name, version)
            if not v.enabled:
                raise disabled("keys", keyops.KEY_OP[operation])
            assert v.jwk is not None
            allowed = v.key_ops if v.key_ops is not None else keys.default_ops(v.jwk["kty"])
            if keyops.KEY_OP[operation] not in allowed:
                raise FakeVaultError(
                    403, "Forbidden", f"Operation {keyops.KEY_OP[operation]} is not permitted on this key."
                )
            jwk = dict(v.jwk)
            kid = bundles.object_id(self.vault_url, "keys", item.name, v.id)
        return {"kid": kid, **keyops.operate(operation, jwk, body)}  # the arithmetic outside the lock

    # -- backup and restore ---------------------------------------------------------------------------

    def backup(self, collection: str, name: str) -> dict[str, Any]:
        """``POST /{collection}/{name}/backup``: an opaque blob of every version (a certificate's with its
        key and secret)."""
        with self._lock:
            item = self._item(collection, name)
            related = _with_parts(collection)
            copies = {
                coll: copy.deepcopy(self._items[coll][item.name.lower()])
                for coll in related
                if item.name.lower() in self._items[coll]
            }
            token = secrets_module.token_urlsafe(24)
            self._backups[token] = (collection, copies)
            blob = base64.urlsafe_b64encode(f"{BACKUP_PREFIX}{collection}:{token}".encode()).decode().rstrip("=")
            return {"value": blob}

    def restore(self, collection: str, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /{collection}/restore``: the object back from a blob of this fake, if its name is free."""
        blob = body.get("value")
        if not isinstance(blob, str):
            raise bad_parameter("The backup blob 'value' must be a string.")
        try:
            text = base64.urlsafe_b64decode(blob + "=" * (-len(blob) % 4)).decode()
        except (ValueError, UnicodeDecodeError):
            text = ""
        kind, _, token = text.removeprefix(BACKUP_PREFIX).partition(":")
        with self._lock:
            found = self._backups.get(token) if text.startswith(BACKUP_PREFIX) else None
            if found is None or kind != collection or found[0] != collection:
                raise bad_parameter("Backup blob contains invalid or corrupt version.")
            copies = found[1]
            name = copies[collection].name
            for coll in copies:
                self._check_not_deleted(coll, name)
                if name.lower() in self._items[coll]:
                    raise FakeVaultError(
                        409, "Conflict", f"{coll[:-1].capitalize()} {name} already exists; it cannot be restored."
                    )
            for coll, item in copies.items():
                self._items[coll][name.lower()] = copy.deepcopy(item)
            item = self._items[collection][name.lower()]
            return bundles.bundle(self.vault_url, collection, item, item.versions[-1])

    def purge(self, collection: str, name: str) -> None:
        """``DELETE /deleted{collection}/{name}``: forget it; a certificate takes its key and secret along."""
        with self._lock:
            check_name(name)
            if name.lower() not in self._deleted[collection]:
                raise not_found(collection, name)
            related = _with_parts(collection)
            for coll in related:
                self._deleted[coll].pop(name.lower(), None)

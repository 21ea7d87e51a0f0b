"""The vault's objects and their versions, in memory, behind one lock: the operations of the REST API.

Every operation takes a request body shaped like the REST API's (so the HTTP routes and the direct
Python API share one code path), validates it, changes state under the lock, and returns the response
body. Storage and shared checks are in ``store``, certificates in ``certificate_state``.
"""

from __future__ import annotations

import base64
import copy
import secrets as secrets_module
from typing import Any

from . import bundles, keyops, keys, rotation
from .certificate_state import CertificateStore
from .errors import FakeVaultError, bad_parameter, disabled
from .store import (
    check_collection,
    check_name,
    decode_skiptoken,
    encode_skiptoken,
    optional_str,
    page_by_name,
    parse_attributes,
    parse_tags,
    with_parts,
)

BACKUP_PREFIX = "kvfs-fake-vault-backup:"  # restore accepts only blobs this fake made
#: The service's limit on a secret value (bytes, UTF-8).
MAX_SECRET_BYTES = 25 * 1024


class VaultState(CertificateStore):
    """All objects of one fake vault. Thread-safe: every public method takes the lock."""

    # -- reads -----------------------------------------------------------------------------

    def get(self, collection: str, name: str, version: str = "") -> dict[str, Any]:
        """GET one version (``""`` = the current one). A disabled secret version is refused with 403; a
        disabled key or certificate is returned with ``enabled: false``, as Key Vault does."""
        with self._lock:
            item, v = self._version(collection, name, version)
            if not v.enabled and collection == "secrets":
                raise disabled(collection)
            return bundles.bundle(self.vault_url, collection, item, v)

    def list_page(self, collection: str, *, maxresults: int, skiptoken: str | None) -> tuple[list[dict], str | None]:
        """One page of current versions, ordered by name; returns ``(items, next skiptoken or None)``."""
        with self._lock:
            current = (k for k, item in self._items[collection].items() if item.versions)
            page, token = page_by_name(current, maxresults=maxresults, skiptoken=skiptoken)
            out = [
                bundles.list_item(self.vault_url, collection, item, item.versions[-1], versioned_id=False)
                for item in (self._items[collection][k] for k in page)
            ]
            return out, token

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
        content_type = optional_str(body, "contentType")
        tags = parse_tags(body)
        attrs = parse_attributes(body)
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
            crv=optional_str(body, "crv"),
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
        tags = parse_tags(body)
        attrs = parse_attributes(body)
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
        tags = parse_tags(body)
        attrs = parse_attributes(body)
        content_type = optional_str(body, "contentType") if collection == "secrets" else None
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
            related = with_parts(collection)
            for coll in related:
                moved = self._items[coll].pop(name.lower(), None)
                if moved is not None:
                    self._deleted[coll][name.lower()] = (moved, now)
            return bundles.deleted(self.vault_url, collection, item, item.versions[-1], now)

    def get_deleted(self, collection: str, name: str) -> dict[str, Any]:
        with self._lock:
            item, when = self._deleted_entry(collection, name)
            return bundles.deleted(self.vault_url, collection, item, item.versions[-1], when)

    def list_deleted_page(
        self, collection: str, *, maxresults: int, skiptoken: str | None
    ) -> tuple[list[dict], str | None]:
        """``GET /deleted{collection}``: one page of deleted-but-recoverable objects, ordered by name."""
        with self._lock:
            page, token = page_by_name(self._deleted[collection], maxresults=maxresults, skiptoken=skiptoken)
            out = []
            for key in page:
                item, when = self._deleted[collection][key]
                out.append(bundles.deleted(self.vault_url, collection, item, item.versions[-1], when, listed=True))
            return out, token

    def recover(self, collection: str, name: str) -> dict[str, Any]:
        """``POST /deleted{collection}/{name}/recover``: back with every version (a certificate brings its key
        and secret back); the answer is the current version, as a GET would give it."""
        with self._lock:
            self._deleted_entry(collection, name)
            related = with_parts(collection)
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
            related = with_parts(collection)
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
            self._deleted_entry(collection, name)
            related = with_parts(collection)
            for coll in related:
                self._deleted[coll].pop(name.lower(), None)

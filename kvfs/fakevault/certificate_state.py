"""Certificates in the fake vault: import, create (Self, Unknown and the rest), the pending operation, merge
and the policy. A certificate version is three objects with one name and one version id: the certificate,
its key and its secret, all stored here together.
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from . import bundles, certs, issuance, keyops, keys
from .errors import FakeVaultError, bad_parameter, not_found
from .objects import Item, Version
from .store import COLLECTIONS, ObjectStore, check_name, optional_bool, optional_str, parse_attributes, parse_tags


class CertificateStore(ObjectStore):
    """The certificate operations of ``VaultState``."""

    def get_policy(self, name: str) -> dict[str, Any]:
        """A certificate's policy; a certificate still awaiting its first version has one too."""
        check_name(name)
        with self._lock:
            item = self._items["certificates"].get(name.lower())
            if item is None or item.policy is None:
                raise not_found("certificates", name)
            return bundles.policy(self.vault_url, item)

    # -- certificates ------------------------------------------------------------------------------

    def import_certificate(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /certificates/{name}/import``: one version of the certificate, its key and its secret."""
        check_name(name)
        value = body.get("value")
        if not isinstance(value, str) or not value:
            raise bad_parameter("The certificate 'value' (base64 PFX or PEM) is required.")
        password = optional_str(body, "pwd")
        requested = body.get("policy") or {}
        if not isinstance(requested, dict):
            raise bad_parameter("'policy' must be an object.")
        key_req = requested.get("key_props") or {}
        secret_req = requested.get("secret_props") or {}
        if not isinstance(key_req, dict) or not isinstance(secret_req, dict):
            raise bad_parameter("'policy.key_props' and 'policy.secret_props' must be objects.")
        material = certs.parse_upload(certs.decode_upload(value), password)
        content_type = optional_str(secret_req, "contentType") or material.source_format
        if content_type not in certs.CONTENT_TYPES:
            raise bad_parameter(
                f"Unsupported certificate content type {content_type!r}; use {' or '.join(certs.CONTENT_TYPES)}."
            )
        key_props = certs.key_props(material, key_req)
        tags = parse_tags(body)
        attrs = parse_attributes(body)
        preserve = optional_bool(body, "preserveCertOrder")
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
        tags = parse_tags(body)
        attrs = parse_attributes(body)
        preserve = optional_bool(body, "preserveCertOrder")
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
        named = issuer not in ("", issuance.SELF, issuance.UNKNOWN)  # "": a platform-managed policy
        provider = self.settings.provider(issuer) if named else None
        if named and provider is None:
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
        tags = parse_tags(body)
        attrs = parse_attributes(body)
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

"""The fake's state: Secrets (plus namespaces and pods to look up), and every write a Secret can get.

Each write follows the real server's order of steps: decode, precondition and field-manager work, then
validation, then storage (uid, creationTimestamp, a new global resourceVersion). A write that changes
nothing (managedFields included) stores nothing and keeps the resourceVersion, as etcd's no-op update.
All methods are thread-safe and return deep copies; errors are ``KubeError``.
"""

from __future__ import annotations

import base64
import copy
import json
import secrets
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import yaml

from . import managed, objects, patches, selectors, typed, validation
from .errors import (
    RESOURCE,
    already_exists,
    bad_request,
    conflict,
    internal,
    invalid,
    modified,
    not_found,
    unsupported_patch,
)
from .objects import canonical

#: What the server appends to ``generateName`` (no vowels, no look-alike characters).
_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"
#: Statuses of the writes.
OK, CREATED = 200, 201


class Store:
    """Secrets by ``(namespace, name)``, one resourceVersion counter, namespaces and pods."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._rv = 0
        self._secrets: dict[tuple[str, str], dict[str, Any]] = {}
        self._namespaces: dict[str, dict[str, Any]] = {}
        self._pods: dict[tuple[str, str], dict[str, Any]] = {}

    # -- helpers -----------------------------------------------------------------------------------

    @staticmethod
    def now() -> str:
        return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def _next_rv(self) -> str:
        self._rv += 1
        return str(self._rv)

    @property
    def resource_version(self) -> str:
        with self._lock:
            return str(self._rv)

    # -- namespaces and pods -----------------------------------------------------------------------

    def namespace(self, name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
        """The Namespace ``name``; every namespace exists, it is recorded the first time it is asked for."""
        with self._lock:
            ns = self._namespaces.get(name)
            if ns is None:
                meta = {
                    "name": name,
                    "uid": str(uuid.uuid4()),
                    "resourceVersion": self._next_rv(),
                    "creationTimestamp": self.now(),
                    "labels": {"kubernetes.io/metadata.name": name},
                }
                ns = {
                    "kind": "Namespace",
                    "apiVersion": "v1",
                    "metadata": meta,
                    "spec": {"finalizers": ["kubernetes"]},
                    "status": {"phase": "Active"},
                }
                self._namespaces[name] = ns
            if labels:
                ns["metadata"]["labels"] = {**ns["metadata"]["labels"], **labels}
            return copy.deepcopy(ns)

    def namespaces(self) -> list[dict[str, Any]]:
        with self._lock:
            for ns, _ in self._secrets:
                self.namespace(ns)
            return [copy.deepcopy(self._namespaces[n]) for n in sorted(self._namespaces)]

    def add_pod(self, namespace: str, name: str, uid: str | None, labels: dict[str, str] | None) -> dict[str, Any]:
        with self._lock:
            self.namespace(namespace)
            meta: dict[str, Any] = {
                "name": name,
                "namespace": namespace,
                "uid": uid or str(uuid.uuid4()),
                "resourceVersion": self._next_rv(),
                "creationTimestamp": self.now(),
            }
            if labels:
                meta["labels"] = dict(labels)
            pod = {
                "kind": "Pod",
                "apiVersion": "v1",
                "metadata": meta,
                "spec": {"containers": [{"name": "app", "image": "example.invalid/app:latest"}]},
                "status": {"phase": "Running"},
            }
            self._pods[(namespace, name)] = pod
            return copy.deepcopy(pod)

    def pod(self, namespace: str, name: str) -> dict[str, Any]:
        with self._lock:
            pod = self._pods.get((namespace, name))
            if pod is None:
                raise not_found("pods", name)
            return copy.deepcopy(pod)

    # -- reads ---------------------------------------------------------------------------------------

    def find(self, namespace: str, name: str) -> dict[str, Any] | None:
        with self._lock:
            secret = self._secrets.get((namespace, name))
            return copy.deepcopy(secret) if secret is not None else None

    def get(self, namespace: str, name: str) -> dict[str, Any]:
        secret = self.find(namespace, name)
        if secret is None:
            raise not_found(RESOURCE, name)
        return secret

    def list(
        self,
        namespace: str | None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int = 0,
        continue_token: str | None = None,
    ) -> dict[str, Any]:
        """A ``SecretList`` (items without kind/apiVersion, sorted by namespace and name), paged by ``limit``."""
        by_labels = selectors.label_selector(label_selector)
        by_fields = selectors.field_selector(field_selector)
        after: tuple[str, ...] = ()
        with self._lock:
            list_rv = str(self._rv)
            if continue_token:
                try:
                    token = json.loads(base64.urlsafe_b64decode(continue_token.encode()))
                    after, list_rv = tuple(str(token["start"]).split("/", 1)), str(token["rv"])
                except (ValueError, KeyError, TypeError):
                    raise bad_request("continue key is not valid: illegal base64 data") from None
            keys = sorted(k for k in self._secrets if (namespace is None or k[0] == namespace) and k > after)
            matching = [self._secrets[k] for k in keys if by_labels(self._secrets[k]) and by_fields(self._secrets[k])]
            page = matching[:limit] if limit > 0 else matching
            items = []
            for secret in page:
                item = copy.deepcopy(secret)
                item.pop("kind", None)
                item.pop("apiVersion", None)
                items.append(item)
        meta: dict[str, Any] = {"resourceVersion": list_rv}
        if len(page) < len(matching):
            last = page[-1]["metadata"]
            token = {"v": "meta.k8s.io/v1", "rv": int(list_rv), "start": f"{last['namespace']}/{last['name']}"}
            meta["continue"] = base64.urlsafe_b64encode(json.dumps(token).encode()).decode()
            meta["remainingItemCount"] = len(matching) - len(page)
        return {"kind": "SecretList", "apiVersion": "v1", "metadata": meta, "items": items}

    # -- writes --------------------------------------------------------------------------------------

    def create(
        self, namespace: str, body: bytes | dict[str, Any], manager: str, *, dry_run: bool = False, strict: bool = False
    ) -> tuple[int, dict[str, Any], list[str]]:
        """POST: ``(201, object, warnings)``."""
        obj, warnings = self._incoming(body, strict)
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise bad_request('Secret in version "v1" cannot be handled as a Secret: metadata must be an object')
        if meta.get("namespace") not in (None, "", namespace):
            raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
        meta["namespace"] = namespace
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + "".join(secrets.choice(_NAME_CHARS) for _ in range(5))
        meta.pop("managedFields", None)
        validation.check_shapes(obj)
        objects.fold_string_data(obj)
        obj.setdefault("type", "Opaque")
        obj["type"] = obj["type"] or "Opaque"
        data = validation.decode_data(obj)
        obj = canonical(obj)
        with self._lock:
            now = self.now()
            managers = managed.record_update({}, typed.MISSING, obj, manager, now)
            name = obj["metadata"].get("name", "")
            errors = validation.validate(obj, data)
            if errors:
                raise invalid("Secret", name, errors)
            if obj["metadata"].get("resourceVersion"):
                raise internal("resourceVersion should not be set on objects to be created")
            if (namespace, name) in self._secrets:
                raise already_exists(RESOURCE, name)
            meta = obj["metadata"]
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = now
            meta.pop("deletionTimestamp", None)
            meta["managedFields"] = managed.encode(managers)
            if not dry_run:
                self.namespace(namespace)
                meta["resourceVersion"] = self._next_rv()
            obj = canonical(obj)
            if not dry_run:
                self._secrets[(namespace, name)] = obj
            return CREATED, copy.deepcopy(obj), warnings

    def replace(
        self,
        namespace: str,
        name: str,
        body: bytes | dict[str, Any],
        manager: str,
        *,
        dry_run: bool = False,
        strict: bool = False,
    ) -> tuple[int, dict[str, Any], list[str]]:
        """PUT: a full replacement; ``metadata.resourceVersion``, when given, must be the current one."""
        obj, warnings = self._incoming(body, strict)
        with self._lock:
            current = self.get(namespace, name)
            status, stored = self._update(namespace, name, current, obj, manager, dry_run=dry_run)
            return status, stored, warnings

    def patch(
        self,
        namespace: str,
        name: str,
        content_type: str,
        body: bytes,
        manager: str,
        *,
        dry_run: bool = False,
        strict: bool = False,
    ) -> tuple[int, dict[str, Any], list[str]]:
        """A merge, strategic merge or JSON patch, applied to the current object as JSON."""
        if content_type not in ("application/merge-patch+json", "application/strategic-merge-patch+json") and (
            content_type != "application/json-patch+json"
        ):
            raise unsupported_patch()
        patch = objects.json_body(body)
        with self._lock:
            current = self.get(namespace, name)
            if content_type == "application/json-patch+json":
                patched = patches.json_patch(current, patch)
            elif content_type == "application/strategic-merge-patch+json":
                patched = patches.strategic_patch(current, patch)
            else:
                patched = patches.merge_patch(current, patch)
            if not isinstance(patched, dict):
                raise bad_request("the object provided is unrecognized (must be of type Secret)")
            objects.check_type_meta(patched)
            warnings = self._unknown(patched, strict)
            patched = objects.drop_unknown(patched)
            status, stored = self._update(namespace, name, current, patched, manager, dry_run=dry_run)
            return status, stored, warnings

    def _update(
        self, namespace: str, name: str, current: dict[str, Any], obj: dict[str, Any], manager: str, *, dry_run: bool
    ) -> tuple[int, dict[str, Any]]:
        """The shared tail of PUT and non-apply PATCH (lock held)."""
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise bad_request('Secret in version "v1" cannot be handled as a Secret: metadata must be an object')
        if meta.get("name", name) != name:
            raise bad_request(
                f"the name of the object ({meta.get('name')}) does not match the name on the URL ({name})"
            )
        if meta.get("namespace") not in (None, "", namespace):
            raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
        meta["name"], meta["namespace"] = name, namespace
        meta.pop("managedFields", None)
        validation.check_shapes(obj)
        objects.fold_string_data(obj)
        obj["type"] = obj.get("type") or "Opaque"
        data = validation.decode_data(obj)
        obj = canonical(obj)
        live = objects.without_managed(current)
        now = self.now()
        managers = managed.record_update(
            managed.decode(current["metadata"].get("managedFields")), live, obj, manager, now
        )
        wanted = obj["metadata"].get("resourceVersion")
        if wanted and wanted != current["metadata"]["resourceVersion"]:
            raise modified(name)
        return self._store_update(namespace, name, current, obj, data, managers, dry_run=dry_run)

    def apply(
        self,
        namespace: str,
        name: str,
        body: bytes,
        manager: str,
        *,
        force: bool,
        may_create: Callable[[], None],
        dry_run: bool = False,
        strict: bool = False,
    ) -> tuple[int, dict[str, Any], list[str]]:
        """Server-side apply; creates the object when missing (once valid, if ``may_create()`` allows it).

        A ``metadata.resourceVersion`` in the applied object is a precondition on an existing object;
        on a missing one it is ignored and the object is created, as the real server does for Secrets.
        """
        try:
            config = yaml.safe_load(body.decode("utf-8")) if body.strip() else None
        except (UnicodeDecodeError, yaml.YAMLError) as exc:
            raise bad_request(f"error decoding YAML: {exc}") from None
        if not isinstance(config, dict):
            raise bad_request("error decoding YAML: the applied object must be a YAML or JSON object")
        version = config.get("apiVersion") or ""
        if version != "v1":
            raise bad_request(
                f"Incorrect version specified in apply patch. Specified patch version: {version}, expected: v1"
            )
        if config.get("kind") != "Secret":
            raise bad_request(f"apply patch kind {config.get('kind') or ''!r} does not match the resource kind Secret")
        meta = config.get("metadata")
        if not isinstance(meta, dict):
            raise bad_request("the name of the object () does not match the name on the URL (" + name + ")")
        if meta.get("managedFields") is not None:
            raise bad_request("metadata.managedFields must be nil")
        if meta.get("name") != name:
            raise bad_request(
                f"the name of the object ({meta.get('name') or ''}) does not match the name on the URL ({name})"
            )
        if meta.get("namespace") not in (None, "", namespace):
            raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
        unknown = objects.unknown_fields(config)
        if unknown and strict:
            raise bad_request(f"failed to create typed patch object: {unknown[0]}: field not declared in schema")
        warnings = [f'unknown field "{u.lstrip(".")}"' for u in unknown]
        config = objects.drop_unknown(config)
        with self._lock:
            current = self.find(namespace, name)
            live = objects.without_managed(current) if current is not None else None
            prior = managed.decode(current["metadata"].get("managedFields")) if current is not None else {}
            now = self.now()
            merged, managers = managed.record_apply(prior, live, config, manager, force=force, now=now)
            obj = copy.deepcopy(merged if merged is not None else live) or {}
            meta = obj.setdefault("metadata", {})
            meta["name"], meta["namespace"] = name, namespace
            if current is not None:
                wanted = meta.get("resourceVersion")
                if wanted and wanted != current["metadata"]["resourceVersion"]:
                    raise modified(name)
            validation.check_shapes(obj)
            objects.fold_string_data(obj)
            obj["type"] = obj.get("type") or "Opaque"
            data = validation.decode_data(obj)
            obj = canonical(obj)
            if current is None:
                errors = validation.validate(obj, data)
                if errors:
                    raise invalid("Secret", name, errors)
                # As on the real server, the create permission is checked after validation.
                may_create()
                meta = obj["metadata"]
                meta.pop("resourceVersion", None)
                meta["uid"] = str(uuid.uuid4())
                meta["creationTimestamp"] = now
                meta["managedFields"] = managed.encode(managers)
                if not dry_run:
                    self.namespace(namespace)
                    meta["resourceVersion"] = self._next_rv()
                obj = canonical(obj)
                if not dry_run:
                    self._secrets[(namespace, name)] = obj
                return CREATED, copy.deepcopy(obj), warnings
            status, stored = self._store_update(namespace, name, current, obj, data, managers, dry_run=dry_run)
            return status, stored, warnings

    def _store_update(
        self,
        namespace: str,
        name: str,
        current: dict[str, Any],
        obj: dict[str, Any],
        data: dict[str, bytes],
        managers: managed.Managers,
        *,
        dry_run: bool,
    ) -> tuple[int, dict[str, Any]]:
        """Validate an update and store it, unless it changes nothing (lock held)."""
        old_meta, meta = current["metadata"], obj["metadata"]
        meta.setdefault("uid", old_meta["uid"])
        meta["creationTimestamp"] = old_meta["creationTimestamp"]
        for key in ("deletionTimestamp", "deletionGracePeriodSeconds"):
            if key in old_meta:
                meta[key] = old_meta[key]
            else:
                meta.pop(key, None)
        errors = validation.validate(obj, data, current)
        if errors:
            raise invalid("Secret", name, errors)
        meta["resourceVersion"] = old_meta["resourceVersion"]
        meta["managedFields"] = managed.encode(managers)
        obj = canonical(obj)
        if obj == current:
            return OK, copy.deepcopy(current)
        if dry_run:
            return OK, obj
        obj["metadata"]["resourceVersion"] = self._next_rv()
        if "deletionTimestamp" in obj["metadata"] and not obj["metadata"].get("finalizers"):
            del self._secrets[(namespace, name)]
        else:
            self._secrets[(namespace, name)] = obj
        return OK, copy.deepcopy(obj)

    def delete(
        self, namespace: str, name: str, options: dict[str, Any] | None = None, *, dry_run: bool = False
    ) -> dict[str, Any]:
        """DELETE: a Success ``Status``; with finalizers the object stays, marked for deletion, and is returned."""
        preconditions = (options or {}).get("preconditions") or {}
        with self._lock:
            current = self.get(namespace, name)
            meta = current["metadata"]
            key = f"/registry/secrets/{namespace}/{name}"
            for field, label in (("uid", "UID"), ("resourceVersion", "ResourceVersion")):
                wanted = preconditions.get(field)
                if wanted is not None and wanted != meta[field]:
                    raise conflict(
                        RESOURCE,
                        name,
                        f"StorageError: invalid object, Code: 4, Key: {key}, ResourceVersion: 0, "
                        f"AdditionalErrorMsg: Precondition failed: {label} in precondition: {wanted}, "
                        f"{label} in object meta: {meta[field]}",
                    )
            if meta.get("finalizers"):
                if "deletionTimestamp" not in meta and not dry_run:
                    meta["deletionTimestamp"] = self.now()
                    meta["deletionGracePeriodSeconds"] = 0
                    meta["resourceVersion"] = self._next_rv()
                    current = canonical(current)
                    self._secrets[(namespace, name)] = current
                return copy.deepcopy(current)
            if not dry_run:
                del self._secrets[(namespace, name)]
            return {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Success",
                "details": {"name": name, "kind": RESOURCE, "uid": meta["uid"]},
            }

    def delete_collection(
        self, namespace: str, *, label_selector: str | None, field_selector: str | None, dry_run: bool = False
    ) -> dict[str, Any]:
        """DELETE on the collection: the deleted objects as a ``SecretList``."""
        with self._lock:
            listed = self.list(namespace, label_selector=label_selector, field_selector=field_selector)
            for item in listed["items"]:
                self.delete(namespace, item["metadata"]["name"], dry_run=dry_run)
            listed["metadata"] = {"resourceVersion": str(self._rv)}
            return listed

    def _incoming(self, body: bytes | dict[str, Any], strict: bool) -> tuple[dict[str, Any], list[str]]:
        """A POST or PUT body as a Secret object without unknown fields, and the warnings about those."""
        obj = objects.json_body(body) if isinstance(body, bytes) else copy.deepcopy(body)
        if not isinstance(obj, dict):
            raise bad_request("the object provided is unrecognized (must be of type Secret)")
        objects.check_type_meta(obj)
        warnings = self._unknown(obj, strict)
        return objects.drop_unknown(obj), warnings

    @staticmethod
    def _unknown(obj: dict[str, Any], strict: bool) -> list[str]:
        """Warnings for unknown fields, or the 400 of ``fieldValidation=Strict``."""
        unknown = objects.unknown_fields(obj)
        if unknown and strict:
            raise bad_request(
                "strict decoding error: " + ", ".join(f'unknown field "{u.lstrip(".")}"' for u in unknown)
            )
        return [f'unknown field "{u.lstrip(".")}"' for u in unknown]

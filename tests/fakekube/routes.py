"""Routing of authenticated API requests: discovery, namespaces, pods and Secrets, each behind RBAC.

Pure request-in, response-out (no sockets), so the server module only does HTTP. The verb of a request
is the one the real server's RequestInfo derives: GET one ``get``, GET collection ``list``, POST
``create``, PUT ``update``, PATCH ``patch`` (an apply that creates also needs ``create``), DELETE one
``delete``, DELETE collection ``deletecollection``.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import discovery, protobuf, tables
from .errors import (
    RESOURCE,
    FieldError,
    KubeError,
    bad_request,
    forbidden,
    forbidden_verb,
    invalid,
    no_route,
    not_allowed,
)
from .rbac import AccessControl
from .store import Store

APPLY = "application/apply-patch+yaml"
FIELD_MANAGER_MAX = 128


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: Mapping[str, str]
    body: bytes = b""

    @property
    def content_type(self) -> str:
        return (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()


@dataclass
class Response:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


def _manager(req: Request) -> str:
    """The Update manager: ``fieldManager``, else the User-Agent up to its first "/", else "unknown"."""
    name = req.query.get("fieldManager") or ""
    if not name:
        agent = (req.headers.get("User-Agent") or "").split("/")[0]
        name = "".join(c for c in agent if unicodedata.category(c)[0] not in "CZ" or c == " ")[:FIELD_MANAGER_MAX]
    return name or "unknown"


def _object_body(req: Request) -> bytes | dict[str, Any]:
    """A POST/PUT body: JSON bytes as sent, or a protobuf Secret decoded to its JSON form."""
    return protobuf.decode_secret(req.body) if req.content_type == protobuf.CONTENT_TYPE else req.body


def _options_error(kind: str, errors: list[FieldError]) -> KubeError:
    return invalid(kind, "", errors, group="meta.k8s.io")


def _check_field_manager(req: Request, kind: str) -> None:
    name = req.query.get("fieldManager")
    if name is None:
        return
    if len(name) > FIELD_MANAGER_MAX:
        raise _options_error(
            kind, [FieldError("too_long", "fieldManager", detail=f"may not be more than {FIELD_MANAGER_MAX} bytes")]
        )
    if any(not c.isprintable() for c in name):
        raise _options_error(
            kind, [FieldError("invalid", "fieldManager", name, "must only contain printable characters")]
        )


def _warnings(texts: list[str]) -> dict[str, str]:
    if not texts:
        return {}
    return {"Warning": ", ".join("299 - " + json.dumps(t) for t in texts)}


class Router:
    """Answers one authenticated request for ``user``."""

    def __init__(self, store: Store, access: AccessControl, address: Callable[[], str]) -> None:
        self.store = store
        self.access = access
        self.address = address

    def handle(self, req: Request, user: str) -> Response:
        segments = [s for s in req.path.split("/") if s]
        if req.method not in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            raise not_allowed()
        if segments in (["version"], ["api"], ["apis"], ["api", "v1"]):
            if req.method != "GET":
                raise not_allowed()
            documents = {
                "version": lambda: discovery.VERSION,
                "api": lambda: discovery.api_versions(self.address()),
                "apis": discovery.api_groups,
                "api/v1": discovery.core_resources,
            }
            return Response(200, documents["/".join(segments)]())
        if segments[:2] != ["api", "v1"]:
            raise no_route()
        rest = segments[2:]
        if rest == ["namespaces"]:
            return self._namespaces(req, user)
        if rest == [RESOURCE]:
            return self._secret_collection(req, user, None)
        if len(rest) >= 2 and rest[0] == "namespaces":
            namespace, tail = rest[1], rest[2:]
            if not tail:
                return self._namespace(req, user, namespace)
            if tail[0] == RESOURCE and len(tail) == 1:
                return self._secret_collection(req, user, namespace)
            if tail[0] == RESOURCE and len(tail) == 2:
                return self._secret(req, user, namespace, tail[1])
            if tail[0] == "pods" and len(tail) == 2:
                return self._pod(req, user, namespace, tail[1])
        raise no_route()

    # -- authorization ---------------------------------------------------------------------------

    def _authorize(self, user: str, verb: str, resource: str, namespace: str | None, name: str = "") -> None:
        if not self.access.allowed(user, verb, resource, namespace):
            raise forbidden_verb(user, verb, resource, namespace, name)

    # -- namespaces and pods ---------------------------------------------------------------------

    def _namespaces(self, req: Request, user: str) -> Response:
        if req.method != "GET":
            raise not_allowed()
        self._authorize(user, "list", "namespaces", None)
        items = self.store.namespaces()
        for item in items:
            item.pop("kind")
            item.pop("apiVersion")
        meta = {"resourceVersion": self.store.resource_version}
        return Response(200, {"kind": "NamespaceList", "apiVersion": "v1", "metadata": meta, "items": items})

    def _namespace(self, req: Request, user: str, namespace: str) -> Response:
        if req.method != "GET":
            raise not_allowed()
        self._authorize(user, "get", "namespaces", namespace, namespace)
        return Response(200, self.store.namespace(namespace))

    def _pod(self, req: Request, user: str, namespace: str, name: str) -> Response:
        if req.method != "GET":
            raise not_allowed()
        self._authorize(user, "get", "pods", namespace, name)
        return Response(200, self.store.pod(namespace, name))

    # -- secrets -----------------------------------------------------------------------------------

    def _flags(self, req: Request) -> tuple[bool, bool]:
        """``(dry_run, strict)`` from ``dryRun`` and ``fieldValidation``."""
        return req.query.get("dryRun") == "All", req.query.get("fieldValidation", "").lower() == "strict"

    def _secret_collection(self, req: Request, user: str, namespace: str | None) -> Response:
        q = req.query
        if req.method == "GET":
            if q.get("watch", "").lower() in ("true", "1"):
                self._authorize(user, "watch", RESOURCE, namespace)
                raise KubeError(405, "MethodNotAllowed", "watch is not supported by the fake Kubernetes API")
            self._authorize(user, "list", RESOURCE, namespace)
            try:
                limit = int(q.get("limit") or 0)
            except ValueError:
                raise bad_request(f"invalid limit {q.get('limit')!r}") from None
            listed = self.store.list(
                namespace,
                label_selector=q.get("labelSelector"),
                field_selector=q.get("fieldSelector"),
                limit=limit,
                continue_token=q.get("continue"),
            )
            if tables.wants_table(req.headers.get("Accept")):
                return Response(200, tables.secrets_table(listed["items"], listed["metadata"]))
            return Response(200, listed)
        if namespace is None:
            raise not_allowed()
        dry_run, strict = self._flags(req)
        if req.method == "POST":
            self._authorize(user, "create", RESOURCE, namespace)
            _check_field_manager(req, "CreateOptions")
            status, obj, warnings = self.store.create(
                namespace, _object_body(req), _manager(req), dry_run=dry_run, strict=strict
            )
            return Response(status, obj, _warnings(warnings))
        if req.method == "DELETE":
            self._authorize(user, "deletecollection", RESOURCE, namespace)
            deleted = self.store.delete_collection(
                namespace, label_selector=q.get("labelSelector"), field_selector=q.get("fieldSelector"), dry_run=dry_run
            )
            return Response(200, deleted)
        raise not_allowed()

    def _secret(self, req: Request, user: str, namespace: str, name: str) -> Response:
        dry_run, strict = self._flags(req)
        if req.method == "GET":
            self._authorize(user, "get", RESOURCE, namespace, name)
            obj = self.store.get(namespace, name)
            if tables.wants_table(req.headers.get("Accept")):
                return Response(
                    200, tables.secrets_table([obj], {"resourceVersion": obj["metadata"]["resourceVersion"]})
                )
            return Response(200, obj)
        if req.method == "PUT":
            self._authorize(user, "update", RESOURCE, namespace, name)
            _check_field_manager(req, "UpdateOptions")
            status, obj, warnings = self.store.replace(
                namespace, name, _object_body(req), _manager(req), dry_run=dry_run, strict=strict
            )
            return Response(status, obj, _warnings(warnings))
        if req.method == "PATCH":
            self._authorize(user, "patch", RESOURCE, namespace, name)
            return self._patch(req, user, namespace, name, dry_run=dry_run, strict=strict)
        if req.method == "DELETE":
            self._authorize(user, "delete", RESOURCE, namespace, name)
            options = None
            if req.content_type == protobuf.CONTENT_TYPE:
                options = protobuf.decode_delete_options(req.body)
            elif req.body.strip():
                try:
                    options = json.loads(req.body)
                except (UnicodeDecodeError, json.JSONDecodeError):
                    raise bad_request("the body of the request was in an unknown format") from None
            return Response(200, self.store.delete(namespace, name, options, dry_run=dry_run))
        raise not_allowed()

    def _patch(self, req: Request, user: str, namespace: str, name: str, *, dry_run: bool, strict: bool) -> Response:
        q = req.query
        if req.content_type == APPLY:
            if not q.get("fieldManager"):
                raise _options_error(
                    "PatchOptions", [FieldError("required", "fieldManager", detail="is required for apply patch")]
                )
            _check_field_manager(req, "PatchOptions")

            def may_create() -> None:
                if not self.access.allowed(user, "create", RESOURCE, namespace):
                    # The real server builds this error with RBAC's (empty) reason, not the usual sentence.
                    raise forbidden(RESOURCE, name, "")

            status, obj, warnings = self.store.apply(
                namespace,
                name,
                req.body,
                q["fieldManager"],
                force=q.get("force", "").lower() == "true",
                may_create=may_create,
                dry_run=dry_run,
                strict=strict,
            )
            return Response(status, obj, _warnings(warnings))
        if "force" in q:
            raise _options_error(
                "PatchOptions", [FieldError("forbidden", "force", detail="may not be specified for non-apply patch")]
            )
        _check_field_manager(req, "PatchOptions")
        status, obj, warnings = self.store.patch(
            namespace, name, req.content_type, req.body, _manager(req), dry_run=dry_run, strict=strict
        )
        return Response(status, obj, _warnings(warnings))

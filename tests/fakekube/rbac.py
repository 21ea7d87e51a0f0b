"""Who is calling and what they may do: bearer tokens to user names, and an RBAC table.

The table grants ``(namespace, resource, verb)`` to a user, as a RoleBinding would; namespace ``"*"``
grants in every namespace and at the cluster scope, as a ClusterRoleBinding would, and verb ``"*"``
every verb. Thread-safe.
"""

from __future__ import annotations

import hmac
import threading
from collections.abc import Iterable

VERBS = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection")
ALL = "*"


class AccessControl:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[str, str] = {}
        self._grants: dict[str, set[tuple[str, str, str]]] = {}

    def add_token(self, token: str, user: str) -> None:
        if not token or any(c.isspace() for c in token):
            raise ValueError("a bearer token must be non-empty and have no whitespace")
        with self._lock:
            self._tokens[token] = user

    def revoke_token(self, token: str) -> None:
        with self._lock:
            self._tokens.pop(token, None)

    def authenticate(self, authorization: str | None) -> str | None:
        """The user of an ``Authorization: Bearer`` header, or None for a missing or unknown token."""
        scheme, _, token = (authorization or "").strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return None
        with self._lock:
            for known, user in self._tokens.items():
                if hmac.compare_digest(known.encode(), token.encode()):
                    return user
        return None

    def allow(self, user: str, namespace: str, resource: str, verbs: Iterable[str]) -> None:
        verbs = (verbs,) if isinstance(verbs, str) else tuple(verbs)
        unknown = sorted(set(verbs) - {*VERBS, ALL})
        if unknown:
            raise ValueError(f"unknown verb(s) {', '.join(unknown)}; known: {', '.join(VERBS)} or '*'")
        with self._lock:
            grants = self._grants.setdefault(user, set())
            grants.update((namespace, resource, verb) for verb in verbs)

    def deny_all(self, user: str) -> None:
        with self._lock:
            self._grants.pop(user, None)

    def allowed(self, user: str, verb: str, resource: str, namespace: str | None) -> bool:
        """Whether ``user`` may ``verb`` ``resource`` in ``namespace`` (None: at the cluster scope)."""
        with self._lock:
            grants = set(self._grants.get(user, ()))
        return any(ns in (ALL, namespace) and res in (resource, ALL) and v in (verb, ALL) for ns, res, v in grants)

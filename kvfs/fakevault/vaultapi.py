"""Routing of the Key Vault REST API onto ``VaultState``: paths, query parameters and JSON bodies.

No HTTP plumbing here: the server has already checked the bearer token. A route returns
``(status, json body or None)`` or raises ``FakeVaultError``.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from . import issuers
from .errors import FakeVaultError, bad_parameter
from .keyops import OPERATIONS
from .state import VaultState
from .store import COLLECTIONS, PAGE_SIZE, check_name, page_by_name

DELETED = {f"deleted{c}": c for c in COLLECTIONS}
Response = tuple[int, Any]


def is_vault_path(segments: list[str]) -> bool:
    return bool(segments) and (segments[0] in COLLECTIONS or segments[0] in DELETED)


def _json_body(body: bytes) -> dict[str, Any]:
    if not body.strip():
        raise bad_parameter("The request body is missing.")
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad_parameter("The request body is not valid JSON.") from exc
    if not isinstance(parsed, dict):
        raise bad_parameter("The request body must be a JSON object.")
    return parsed


def _maxresults(query: dict[str, str]) -> int:
    raw = query.get("maxresults")
    if raw is None or raw == "":
        return PAGE_SIZE
    try:
        value = int(raw)
    except ValueError as exc:
        raise bad_parameter(f"Invalid maxresults {raw!r}: must be an integer from 1 to {PAGE_SIZE}.") from exc
    if not 1 <= value <= PAGE_SIZE:
        raise bad_parameter(f"Invalid maxresults {value}: must be from 1 to {PAGE_SIZE}.")
    return value


def _page(
    state: VaultState, path: str, query: dict[str, str], items: list[dict], marker: str | None, maxresults: int
) -> Response:
    next_link = None
    if marker is not None:
        api = quote(query.get("api-version", ""), safe="")
        next_link = f"{state.vault_url}{path}?api-version={api}&$skiptoken={marker}&maxresults={maxresults}"
    return 200, {"value": items, "nextLink": next_link}


def _method_not_allowed(method: str, path: str) -> FakeVaultError:
    return FakeVaultError(405, "MethodNotAllowed", f"The method {method} is not allowed on {path}.")


def handle(state: VaultState, method: str, segments: list[str], query: dict[str, str], body: bytes) -> Response:
    """Serve one authenticated vault request; ``segments`` is the decoded path split on ``/``."""
    if "api-version" not in query:
        raise bad_parameter("The 'api-version' query parameter is missing.")
    head = segments[0]
    path = "/" + "/".join(segments)
    if head in DELETED:
        collection = DELETED[head]
        if len(segments) == 1 or segments[1:] == [""]:
            if method != "GET":
                raise _method_not_allowed(method, path)
            maxresults = _maxresults(query)
            items, marker = state.list_deleted_page(
                collection, maxresults=maxresults, skiptoken=query.get("$skiptoken")
            )
            return _page(state, head, query, items, marker, maxresults)
        if len(segments) == 3 and segments[2] == "recover":
            if method != "POST":
                raise _method_not_allowed(method, path)
            return 200, state.recover(collection, segments[1])
        if len(segments) != 2 or not segments[1]:
            raise FakeVaultError(404, "NotFound", f"No route for {path}.")
        if method == "GET":
            return 200, state.get_deleted(collection, segments[1])
        if method == "DELETE":
            state.purge(collection, segments[1])
            return 204, None
        raise _method_not_allowed(method, path)

    collection = head
    rest = segments[1:]
    if collection == "certificates" and rest and rest[0] in ("issuers", "contacts"):
        return _settings(state, method, path, rest, query, body)
    if not rest or rest == [""]:
        if method != "GET":
            raise _method_not_allowed(method, path)
        maxresults = _maxresults(query)
        items, marker = state.list_page(collection, maxresults=maxresults, skiptoken=query.get("$skiptoken"))
        return _page(state, collection, query, items, marker, maxresults)

    name = rest[0]
    if rest == ["restore"] and method == "POST":  # GET /secrets/restore is still a secret named "restore"
        return 200, state.restore(collection, _json_body(body))
    if len(rest) == 1:
        if method == "GET":
            return 200, state.get(collection, name)
        if method == "PUT" and collection == "secrets":
            return 200, state.set_secret(name, _json_body(body))
        if method == "PUT" and collection == "keys":
            return 200, state.import_key(name, _json_body(body))
        if method == "PATCH":
            return 200, state.update(collection, name, "", _json_body(body))
        if method == "DELETE":
            return 200, state.delete(collection, name)
        raise _method_not_allowed(method, path)

    if collection == "keys" and method == "POST" and rest[-1] in OPERATIONS and len(rest) in (2, 3):
        version = rest[1] if len(rest) == 3 else ""  # JavaScript's empty version: /keys/NAME//sign
        return 200, state.key_operation(name, version, rest[-1], _json_body(body))
    if collection == "certificates" and rest[1:] == ["pending", "merge"] and method == "POST":
        return 201, state.merge_certificate(name, _json_body(body))
    if len(rest) != 2:
        raise FakeVaultError(404, "NotFound", f"No route for {path}.")
    sub = rest[1]
    if sub == "versions" and method == "GET":
        maxresults = _maxresults(query)
        items, marker = state.list_versions_page(
            collection, name, maxresults=maxresults, skiptoken=query.get("$skiptoken")
        )
        return _page(state, f"{collection}/{quote(name)}/versions", query, items, marker, maxresults)
    if sub == "backup" and method == "POST":
        return 200, state.backup(collection, name)
    if collection == "keys" and sub == "rotate" and method == "POST":
        return 200, state.rotate_key(name)
    if collection == "keys" and sub == "rotationpolicy" and method == "GET":
        return 200, state.get_rotation_policy(name)
    if collection == "keys" and sub == "rotationpolicy" and method == "PUT":
        return 200, state.set_rotation_policy(name, _json_body(body))
    if collection == "certificates" and sub == "create" and method == "POST":
        return 202, state.create_certificate(name, _json_body(body))
    if collection == "certificates" and sub == "pending":
        if method == "GET":
            return 200, state.get_operation(name)
        if method == "PATCH":
            return 200, state.cancel_operation(name, _json_body(body))
        if method == "DELETE":
            return 200, state.delete_operation(name)
        raise _method_not_allowed(method, path)
    if collection == "certificates" and sub == "policy" and method == "PATCH":
        return 200, state.update_policy(name, _json_body(body))
    if collection == "keys" and sub == "create" and method == "POST":
        return 200, state.create_key(name, _json_body(body))
    if collection == "certificates" and sub == "import" and method == "POST":
        return 200, state.import_certificate(name, _json_body(body))
    if collection == "certificates" and sub == "policy" and method == "GET":
        return 200, state.get_policy(name)
    if method == "GET":
        return 200, state.get(collection, name, sub)
    if method == "PATCH":
        return 200, state.update(collection, name, sub, _json_body(body))
    raise _method_not_allowed(method, path)


def _settings(
    state: VaultState, method: str, path: str, rest: list[str], query: dict[str, str], body: bytes
) -> Response:
    """``/certificates/contacts`` and ``/certificates/issuers[/{name}]``: vault-wide certificate settings."""
    settings = state.settings
    if rest == ["contacts"]:
        if method == "PUT":
            return 200, issuers.contacts_json(state.vault_url, settings.set_contacts(_json_body(body)))
        if method in ("GET", "DELETE"):
            return 200, issuers.contacts_json(state.vault_url, settings.get_contacts(delete=method == "DELETE"))
        raise _method_not_allowed(method, path)
    if rest in (["issuers"], ["issuers", ""]):
        if method != "GET":
            raise _method_not_allowed(method, path)
        maxresults = _maxresults(query)
        by_key = {i["name"].lower(): i for i in settings.issuers()}
        page, token = page_by_name(by_key, maxresults=maxresults, skiptoken=query.get("$skiptoken"))
        items = [issuers.issuer_item(state.vault_url, by_key[k]) for k in page]
        return _page(state, "certificates/issuers", query, items, token, maxresults)
    if len(rest) != 2 or rest[0] != "issuers":
        raise FakeVaultError(404, "NotFound", f"No route for {path}.")
    name = rest[1]
    check_name(name)
    if method == "PUT":
        return 200, issuers.issuer_json(state.vault_url, settings.set_issuer(name, _json_body(body)))
    if method == "PATCH":
        return 200, issuers.issuer_json(state.vault_url, settings.update_issuer(name, _json_body(body)))
    if method == "GET":
        return 200, issuers.issuer_json(state.vault_url, settings.get_issuer(name))
    if method == "DELETE":
        return 200, issuers.issuer_json(state.vault_url, settings.delete_issuer(name))
    raise _method_not_allowed(method, path)

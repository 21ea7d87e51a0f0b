"""Certificate issuers and the vault's certificate contacts: vault-wide settings, not versioned objects.

The fake stores them as the service does and names an issuer in certificate policies; it never calls a
certificate authority. An issuer's password is kept for the provider and never returned, as on the service.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from typing import Any

from .errors import FakeVaultError, bad_parameter

_ADMIN_FIELDS = ("first_name", "last_name", "email", "phone")
_CONTACT_FIELDS = ("email", "name", "phone")


def _strings_of(raw: object, fields: tuple[str, ...], where: str) -> dict[str, str]:
    if not isinstance(raw, dict):
        raise bad_parameter(f"'{where}' must be an object.")
    out = {}
    for name in fields:
        value = raw.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            raise bad_parameter(f"'{where}.{name}' must be a string.")
        out[name] = value
    return out


def _list_of(raw: object, fields: tuple[str, ...], where: str) -> list[dict[str, str]]:
    if not isinstance(raw, list):
        raise bad_parameter(f"'{where}' must be a list.")
    return [_strings_of(entry, fields, f"{where}[{i}]") for i, entry in enumerate(raw)]


def issuer_not_found(name: str) -> FakeVaultError:
    return FakeVaultError(404, "CertificateIssuerNotFound", f"Issuer not found: {name}.")


class CertificateSettings:
    """Issuers by name (case-insensitive) and the contacts list, behind their own lock."""

    def __init__(self, clock: Callable[[], int]) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._issuers: dict[str, dict[str, Any]] = {}
        self._contacts: list[dict[str, str]] | None = None

    # -- issuers -----------------------------------------------------------------------------------

    def _apply(self, stored: dict[str, Any], body: dict[str, Any]) -> None:
        if body.get("provider") is not None:
            if not isinstance(body["provider"], str) or not body["provider"]:
                raise bad_parameter("'provider' must be a non-empty string.")
            stored["provider"] = body["provider"]
        if body.get("credentials") is not None:
            stored["credentials"] = {
                **stored.get("credentials", {}),
                **_strings_of(body["credentials"], ("account_id", "pwd"), "credentials"),
            }
        if body.get("org_details") is not None:
            details = body["org_details"]
            org = _strings_of(details, ("id",), "org_details")
            if isinstance(details, dict) and details.get("admin_details") is not None:
                org["admin_details"] = _list_of(details["admin_details"], _ADMIN_FIELDS, "org_details.admin_details")
            stored["org_details"] = {**stored.get("org_details", {}), **org}
        attributes = body.get("attributes")
        if attributes is not None:
            if not isinstance(attributes, dict) or not isinstance(attributes.get("enabled", True), bool):
                raise bad_parameter("'attributes.enabled' must be true or false.")
            if "enabled" in attributes:
                stored["attributes"]["enabled"] = attributes["enabled"]
        stored["attributes"]["updated"] = self._clock()

    def set_issuer(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """``PUT /certificates/issuers/{name}``: create or replace."""
        if not isinstance(body.get("provider"), str):
            raise bad_parameter("'provider' is required.")
        now = self._clock()
        stored: dict[str, Any] = {"name": name, "attributes": {"enabled": True, "created": now, "updated": now}}
        self._apply(stored, body)
        with self._lock:
            self._issuers[name.lower()] = stored
            return copy.deepcopy(stored)

    def update_issuer(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """``PATCH /certificates/issuers/{name}``: the given fields change, the others stay."""
        with self._lock:
            stored = self._issuers.get(name.lower())
            if stored is None:
                raise issuer_not_found(name)
            changed = copy.deepcopy(stored)
            self._apply(changed, body)
            self._issuers[name.lower()] = changed
            return copy.deepcopy(changed)

    def get_issuer(self, name: str) -> dict[str, Any]:
        with self._lock:
            stored = self._issuers.get(name.lower())
            if stored is None:
                raise issuer_not_found(name)
            return copy.deepcopy(stored)

    def delete_issuer(self, name: str) -> dict[str, Any]:
        with self._lock:
            stored = self._issuers.pop(name.lower(), None)
            if stored is None:
                raise issuer_not_found(name)
            return stored

    def issuers(self) -> list[dict[str, Any]]:
        """Every issuer, ordered by name (case-insensitive) as ``GET /certificates/issuers`` lists them."""
        with self._lock:
            return [copy.deepcopy(self._issuers[k]) for k in sorted(self._issuers)]

    def provider(self, name: str) -> str | None:
        with self._lock:
            stored = self._issuers.get(name.lower())
            return stored["provider"] if stored else None

    # -- contacts ----------------------------------------------------------------------------------

    def set_contacts(self, body: dict[str, Any]) -> list[dict[str, str]]:
        contacts = _list_of(body.get("contacts"), _CONTACT_FIELDS, "contacts")
        if not contacts or not all(c.get("email") for c in contacts):
            raise bad_parameter("'contacts' must list at least one contact, each with an 'email'.")
        with self._lock:
            self._contacts = contacts
            return copy.deepcopy(contacts)

    def get_contacts(self, *, delete: bool = False) -> list[dict[str, str]]:
        with self._lock:
            if self._contacts is None:
                raise FakeVaultError(404, "ContactsNotFound", "Contacts not found: no certificate contacts are set.")
            contacts = self._contacts
            if delete:
                self._contacts = None
            return copy.deepcopy(contacts)


def issuer_json(vault_url: str, stored: dict[str, Any]) -> dict[str, Any]:
    """An issuer bundle; the credentials' password stays in the vault."""
    out = issuer_item(vault_url, stored)
    credentials = {k: v for k, v in stored.get("credentials", {}).items() if k != "pwd"}
    if credentials:
        out["credentials"] = credentials
    if stored.get("org_details"):
        out["org_details"] = copy.deepcopy(stored["org_details"])
    out["attributes"] = dict(stored["attributes"])
    return out


def issuer_item(vault_url: str, stored: dict[str, Any]) -> dict[str, Any]:
    return {"id": f"{vault_url}certificates/issuers/{stored['name']}", "provider": stored["provider"]}


def contacts_json(vault_url: str, contacts: list[dict[str, str]]) -> dict[str, Any]:
    return {"id": f"{vault_url}certificates/contacts", "contacts": contacts}

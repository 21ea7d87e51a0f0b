"""JSON shapes of Key Vault responses, built from stored objects.

Pure functions: they take the vault URL and the stored item/version and return what the service sends.
``id`` and ``kid`` are exactly ``{vault_url}{collection}/{name}/{version}`` because the SDK parses them.
"""

from __future__ import annotations

import copy
from typing import Any

from .keys import public_jwk
from .objects import Item, Version

RECOVERY_LEVEL = "Recoverable+Purgeable"
RECOVERABLE_DAYS = 90


def object_id(vault_url: str, collection: str, name: str, version: str | None = None) -> str:
    base = f"{vault_url}{collection}/{name}"
    return f"{base}/{version}" if version else base


def attributes(version: Version) -> dict[str, Any]:
    out: dict[str, Any] = {"enabled": version.enabled}
    if version.nbf is not None:
        out["nbf"] = version.nbf
    if version.exp is not None:
        out["exp"] = version.exp
    out.update(
        created=version.created,
        updated=version.updated,
        recoverableDays=RECOVERABLE_DAYS,
        recoveryLevel=RECOVERY_LEVEL,
    )
    return out


def _tags(version: Version) -> dict[str, str] | None:
    return dict(version.tags) if version.tags else None


def secret(
    vault_url: str, item: Item, version: Version, *, with_value: bool = True, versioned_id: bool = True
) -> dict[str, Any]:
    """A secret bundle (``with_value``) or secret list item (no value; ``id`` versioned or not)."""
    out: dict[str, Any] = {}
    if with_value:
        out["value"] = version.value
    out["id"] = object_id(vault_url, "secrets", item.name, version.id if versioned_id else None)
    if version.content_type is not None:
        out["contentType"] = version.content_type
    out["attributes"] = attributes(version)
    tags = _tags(version)
    if tags is not None:
        out["tags"] = tags
    if item.managed:
        if with_value:
            out["kid"] = object_id(vault_url, "keys", item.name, version.id)
        out["managed"] = True
    return out


def key(vault_url: str, item: Item, version: Version) -> dict[str, Any]:
    """A key bundle: the public JWK only."""
    assert version.jwk is not None and version.key_ops is not None
    kid = object_id(vault_url, "keys", item.name, version.id)
    out: dict[str, Any] = {"key": public_jwk(version.jwk, kid, version.key_ops), "attributes": attributes(version)}
    tags = _tags(version)
    if tags is not None:
        out["tags"] = tags
    if item.managed:
        out["managed"] = True
    return out


def key_item(vault_url: str, item: Item, version: Version, *, versioned_id: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "kid": object_id(vault_url, "keys", item.name, version.id if versioned_id else None),
        "attributes": attributes(version),
    }
    tags = _tags(version)
    if tags is not None:
        out["tags"] = tags
    if item.managed:
        out["managed"] = True
    return out


def policy(vault_url: str, item: Item) -> dict[str, Any]:
    assert item.policy is not None
    return {"id": f"{vault_url}certificates/{item.name}/policy", **copy.deepcopy(item.policy)}


def certificate(vault_url: str, item: Item, version: Version) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": object_id(vault_url, "certificates", item.name, version.id),
        "kid": object_id(vault_url, "keys", item.name, version.id),
        "sid": object_id(vault_url, "secrets", item.name, version.id),
        "x5t": version.x5t,
        "cer": version.cer,
        "attributes": attributes(version),
    }
    tags = _tags(version)
    if tags is not None:
        out["tags"] = tags
    if item.policy is not None:
        out["policy"] = policy(vault_url, item)
    if item.preserve_order is not None:
        out["preserveCertOrder"] = item.preserve_order
    return out


def operation(vault_url: str, item: Item) -> dict[str, Any]:
    """A certificate operation (``/certificates/{name}/pending``), whatever its status."""
    assert item.operation is not None
    out: dict[str, Any] = {"id": f"{vault_url}certificates/{item.name}/pending", **copy.deepcopy(item.operation)}
    out["target"] = object_id(vault_url, "certificates", item.name)
    if item.preserve_order is not None:
        out["preserveCertOrder"] = item.preserve_order
    return out


def certificate_item(vault_url: str, item: Item, version: Version, *, versioned_id: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": object_id(vault_url, "certificates", item.name, version.id if versioned_id else None),
        "x5t": version.x5t,
        "attributes": attributes(version),
    }
    tags = _tags(version)
    if tags is not None:
        out["tags"] = tags
    return out


def bundle(vault_url: str, collection: str, item: Item, version: Version) -> dict[str, Any]:
    """The GET response for one version of any collection."""
    if collection == "secrets":
        return secret(vault_url, item, version)
    if collection == "keys":
        return key(vault_url, item, version)
    return certificate(vault_url, item, version)


def list_item(vault_url: str, collection: str, item: Item, version: Version, *, versioned_id: bool) -> dict[str, Any]:
    """One entry of a list page: no value, ``id`` without version unless listing versions."""
    if collection == "secrets":
        return secret(vault_url, item, version, with_value=False, versioned_id=versioned_id)
    if collection == "keys":
        return key_item(vault_url, item, version, versioned_id=versioned_id)
    return certificate_item(vault_url, item, version, versioned_id=versioned_id)


def deleted(
    vault_url: str, collection: str, item: Item, version: Version, deleted_date: int, *, listed: bool = False
) -> dict[str, Any]:
    """The body of a delete and of ``GET /deleted{collection}/{name}``; with ``listed``, an entry of
    ``GET /deleted{collection}`` (the list item's fields: no value, no key material, no version in the id)."""
    if listed:
        out = list_item(vault_url, collection, item, version, versioned_id=False)
    elif collection == "secrets":
        out = secret(vault_url, item, version, with_value=False)
    else:
        out = bundle(vault_url, collection, item, version)
    out.update(
        recoveryId=f"{vault_url}deleted{collection}/{item.name}",
        deletedDate=deleted_date,
        scheduledPurgeDate=deleted_date + RECOVERABLE_DAYS * 86400,
    )
    return out

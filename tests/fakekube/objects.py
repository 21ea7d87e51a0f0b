"""The shape of a stored Secret: Go's field order, empties left out, unknown fields dropped, stringData folded.

What the server's decoding and encoding do to any object it is given, before and after the real work.
"""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

from . import typed
from .errors import bad_request

_META_ORDER = (
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
)
_OWNER_ORDER = ("apiVersion", "kind", "name", "uid", "controller", "blockOwnerDeletion")
_SECRET_ORDER = ("kind", "apiVersion", "metadata", "immutable", "data", "stringData", "type")


def _canonical_meta(meta: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in _META_ORDER:
        value = meta.get(key)
        if value is None or value == {} or value == [] or value == "" or (key == "generation" and value == 0):
            continue
        if key in ("labels", "annotations"):
            value = {k: value[k] for k in sorted(value)}
        elif key == "ownerReferences" and isinstance(value, list):
            value = [{k: r[k] for k in _OWNER_ORDER if isinstance(r, dict) and r.get(k) is not None} for r in value]
        out[key] = value
    return out


def canonical(secret: dict[str, Any]) -> dict[str, Any]:
    """A Secret as the server writes it: known fields only, in Go's field order, empties left out."""
    out: dict[str, Any] = {
        "kind": "Secret",
        "apiVersion": "v1",
        "metadata": _canonical_meta(secret.get("metadata") or {}),
    }
    for key in _SECRET_ORDER[3:]:
        value = secret.get(key)
        if value is None or value == {}:
            continue
        out[key] = {k: value[k] for k in sorted(value)} if isinstance(value, dict) else value
    return out


def unknown_fields(obj: dict[str, Any]) -> list[str]:
    """Paths of fields the Secret schema does not have (``.spec``, ``.metadata.foo``)."""
    out = [f".{k}" for k in obj if k not in typed.SECRET.fields]
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        out += [f".metadata.{k}" for k in meta if k not in typed.OBJECT_META.fields]
    return out


def drop_unknown(obj: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in obj.items() if k in typed.SECRET.fields}
    if isinstance(out.get("metadata"), dict):
        out["metadata"] = {k: v for k, v in out["metadata"].items() if k in typed.OBJECT_META.fields}
    return out


def fold_string_data(secret: dict[str, Any]) -> None:
    """``stringData`` overwrites ``data`` (the v1 conversion does this) and is never stored."""
    string_data = secret.pop("stringData", None)
    if isinstance(string_data, dict) and string_data:
        data = dict(secret.get("data") or {})
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode("utf-8")).decode("ascii")
        secret["data"] = data


def without_managed(secret: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(secret)
    out.get("metadata", {}).pop("managedFields", None)
    return out


def check_type_meta(obj: dict[str, Any]) -> None:
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if api_version not in (None, "", "v1"):
        raise bad_request(f"the API version in the data ({api_version}) does not match the expected API version (v1)")
    if kind not in (None, "", "Secret"):
        raise bad_request(f'Secret in version "v1" cannot be handled as a {kind}: the object provided is not a Secret')


def json_body(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise bad_request(f"couldn't get version/kind; json parse error: {exc}") from None

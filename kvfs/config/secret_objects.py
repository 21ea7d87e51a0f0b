"""``spec.secretObjects``: Kubernetes Secrets to fill from the mounted files.

Each is checked as Kubernetes and the driver would check it when syncing: a valid, unique
``secretName``, a ``type``, ``data`` entries that name files this class mounts and fill valid,
unique keys, and the keys its type requires.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .document import DNS_SUBDOMAIN
from .messages import Context, kind_of, quote, warn_unknown_keys
from .model import ObjectSpec, SecretObject, SecretObjectData

SECRET_OBJECT_KEYS = ("secretName", "type", "data", "labels", "annotations")
SECRET_DATA_KEYS = ("objectName", "key")

#: Secret types whose keys Kubernetes (or the driver) constrains: type → keys that must be present.
REQUIRED_SECRET_KEYS = {
    "kubernetes.io/tls": ("tls.crt", "tls.key"),
    "kubernetes.io/dockerconfigjson": (".dockerconfigjson",),
    "kubernetes.io/dockercfg": (".dockercfg",),
    "kubernetes.io/ssh-auth": ("ssh-privatekey",),
}

_SECRET_KEY = re.compile(r"[-._a-zA-Z0-9]+")


def read_secret_objects(raw: Any, objects: tuple[ObjectSpec, ...], ctx: Context) -> tuple[SecretObject, ...]:
    """``spec.secretObjects``: Kubernetes Secrets to fill from the mounted files."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        ctx.fail("spec.secretObjects", f"must be a list, not {kind_of(raw)}")
    paths = {path for spec in objects for path in spec.paths()}
    patterns = [spec for spec in objects if spec.is_pattern]
    seen: dict[str, int] = {}
    result = []
    for index, item in enumerate(raw):
        secret = _read_secret_object(index, item, paths, patterns, ctx)
        if secret.secret_name in seen:
            first = seen[secret.secret_name]
            ctx.fail(
                f"secretObjects[{index}]",
                f"secretName {quote(secret.secret_name)} is also used by secretObjects[{first}]",
            )
        seen[secret.secret_name] = index
        result.append(secret)
    return tuple(result)


def _read_secret_object(
    index: int, item: Any, paths: set[str], patterns: list[ObjectSpec], ctx: Context
) -> SecretObject:
    where = f"secretObjects[{index}]"
    if not isinstance(item, Mapping):
        ctx.fail(where, f"must be a mapping, not {kind_of(item)}")
    name = item.get("secretName")
    if name is None or name == "":
        ctx.fail(where, "secretName is required")
    if not isinstance(name, str) or len(name) > 253 or not DNS_SUBDOMAIN.fullmatch(name):
        shown = quote(name) if isinstance(name, str) else kind_of(name)
        ctx.fail(where, f"secretName {shown} is not a valid Kubernetes name (lower-case DNS subdomain)")
    where = f"{where} (secretName {quote(name)})"
    warn_unknown_keys(item, SECRET_OBJECT_KEYS, where, ctx)
    secret_type = item.get("type")
    if not isinstance(secret_type, str) or not secret_type.strip():
        ctx.fail(where, "type is required (e.g. Opaque, kubernetes.io/tls)")
    secret_type = secret_type.strip()
    data = _read_secret_data(item.get("data"), paths, patterns, where, ctx)
    _check_required_secret_keys(secret_type, data, where, ctx)
    return SecretObject(
        secret_name=name,
        type=secret_type,
        data=data,
        labels=_read_string_map(item.get("labels"), f"{where}: labels", ctx),
        annotations=_read_string_map(item.get("annotations"), f"{where}: annotations", ctx),
    )


def _read_secret_data(
    raw: Any, paths: set[str], patterns: list[ObjectSpec], where: str, ctx: Context
) -> tuple[SecretObjectData, ...]:
    """``data``: each entry names a mounted file and the Secret key it fills (trimmed, as the driver does)."""
    if raw is None or raw == []:
        ctx.fail(where, "data is required: a list of {objectName, key}")
    if not isinstance(raw, list):
        ctx.fail(where, f"data must be a list, not {kind_of(raw)}")
    keys: dict[str, int] = {}
    result = []
    for index, entry in enumerate(raw):
        here = f"{where}: data[{index}]"
        if not isinstance(entry, Mapping):
            ctx.fail(here, f"must be a mapping with objectName and key, not {kind_of(entry)}")
        warn_unknown_keys(entry, SECRET_DATA_KEYS, here, ctx)
        object_name = _read_data_string(entry, "objectName", here, ctx)
        if object_name not in paths and not any(p.matches(object_name) for p in patterns):
            ctx.fail(here, f"objectName {quote(object_name)} is not the file name (objectAlias) of any object")
        key = _read_data_string(entry, "key", here, ctx)
        problem = _secret_key_problem(key)
        if problem:
            ctx.fail(here, f"key {quote(key)} {problem}")
        if key in keys:
            ctx.fail(here, f"key {quote(key)} is also filled by data[{keys[key]}]")
        keys[key] = index
        result.append(SecretObjectData(object_name=object_name, key=key))
    return tuple(result)


def _read_data_string(entry: Mapping[str, Any], key: str, where: str, ctx: Context) -> str:
    value = entry.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        ctx.fail(f"{where}.{key}", "is required")
    if not isinstance(value, str):
        ctx.fail(f"{where}.{key}", f"must be a string, not {kind_of(value)}")
    return value.strip()


def _secret_key_problem(key: str) -> str | None:
    """Kubernetes' rule for Secret and ConfigMap keys."""
    if len(key) > 253:
        return "is longer than 253 characters"
    if not _SECRET_KEY.fullmatch(key):
        return "may contain only letters, digits, '-', '_' and '.'"
    if key in (".", "..") or key.startswith(".."):
        return "must not be '.' or start with '..'"
    return None


def _check_required_secret_keys(secret_type: str, data: tuple[SecretObjectData, ...], where: str, ctx: Context) -> None:
    """Kubernetes refuses a Secret of these types without their keys; say so before syncing."""
    required = REQUIRED_SECRET_KEYS.get(secret_type, ())
    present = {d.key for d in data}
    missing = [k for k in required if k not in present]
    if missing:
        ctx.fail(where, f"type {secret_type} needs data key {', '.join(missing)}")
    if secret_type == "kubernetes.io/tls":
        extra = sorted(present - set(required))
        if extra:
            ctx.fail(where, f"type kubernetes.io/tls takes only keys tls.crt and tls.key, not {quote(extra[0])}")


def _read_string_map(raw: Any, where: str, ctx: Context) -> dict[str, str]:
    """Labels and annotations: a mapping of strings to strings (null = empty)."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        ctx.fail(where, f"must be a mapping of strings, not {kind_of(raw)}")
    result: dict[str, str] = {}
    for key, value in raw.items():
        if not isinstance(key, str) or not isinstance(value, str):
            shown = quote(key) if isinstance(key, str) else kind_of(key)
            ctx.fail(where, f"{shown} must map to a string, not {kind_of(value)} (quote it)")
        result[key] = value
    return result

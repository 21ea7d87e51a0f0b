"""Request bodies in Kubernetes protobuf (``application/vnd.kubernetes.protobuf``), decoded to JSON objects.

client-go's typed clients send them: ``kubectl create secret`` POSTs a protobuf Secret, a typed delete a
protobuf DeleteOptions. The fake always answers JSON (clients accept it), so only decoding is needed:
the ``k8s\\0`` envelope (runtime.Unknown), Secret, ObjectMeta, OwnerReference and DeleteOptions.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from .errors import KubeError, bad_request

CONTENT_TYPE = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if i >= len(buf) or shift > 63:
            raise ValueError("truncated varint")
        byte = buf[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, i


def _fields(buf: bytes) -> Iterator[tuple[int, int | bytes]]:
    """``(field number, value)``: an int for varints, bytes for everything else."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
            yield number, value
        elif wire == 2:
            length, i = _varint(buf, i)
            if i + length > len(buf):
                raise ValueError("truncated field")
            yield number, buf[i : i + length]
            i += length
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            yield number, buf[i : i + size]
            i += size
        else:
            raise ValueError(f"unsupported wire type {wire}")


def _text(value: int | bytes) -> str:
    if not isinstance(value, bytes):
        raise ValueError("expected a string")  # noqa: TRY004 (every decoding failure is a ValueError)
    return value.decode("utf-8")


def _map_entry(value: int | bytes) -> tuple[str, bytes]:
    key, item = "", b""
    for number, part in _fields(value if isinstance(value, bytes) else b""):
        if number == 1:
            key = _text(part)
        elif number == 2 and isinstance(part, bytes):
            item = part
    return key, item


def _time(value: int | bytes) -> str:
    seconds = 0
    for number, part in _fields(value if isinstance(value, bytes) else b""):
        if number == 1 and isinstance(part, int):
            seconds = part
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


_META_STRINGS = {1: "name", 2: "generateName", 3: "namespace", 4: "selfLink", 5: "uid", 6: "resourceVersion"}
_OWNER_FIELDS = {5: "apiVersion", 1: "kind", 3: "name", 4: "uid"}


def _owner_reference(buf: bytes) -> dict[str, Any]:
    ref: dict[str, Any] = {}
    for number, value in _fields(buf):
        if number in _OWNER_FIELDS:
            ref[_OWNER_FIELDS[number]] = _text(value)
        elif number == 6:
            ref["controller"] = bool(value)
        elif number == 7:
            ref["blockOwnerDeletion"] = bool(value)
    return ref


def _object_meta(buf: bytes) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    for number, value in _fields(buf):
        if number in _META_STRINGS:
            meta[_META_STRINGS[number]] = _text(value)
        elif number == 7 and isinstance(value, int):
            meta["generation"] = value
        elif number == 8:
            meta["creationTimestamp"] = _time(value)
        elif number in (11, 12):
            key, item = _map_entry(value)
            meta.setdefault("labels" if number == 11 else "annotations", {})[key] = item.decode("utf-8")
        elif number == 13 and isinstance(value, bytes):
            meta.setdefault("ownerReferences", []).append(_owner_reference(value))
        elif number == 14:
            meta.setdefault("finalizers", []).append(_text(value))
    return meta


def _unwrap(body: bytes, kind: str) -> bytes:
    """The raw object inside the ``k8s\\0`` + runtime.Unknown envelope, checking its kind."""
    if not body.startswith(MAGIC):
        raise ValueError("the body does not start with the protobuf magic number")
    raw, found = b"", ""
    for number, value in _fields(body[len(MAGIC) :]):
        if number == 1 and isinstance(value, bytes):
            for inner, part in _fields(value):
                if inner == 2:
                    found = _text(part)
        elif number == 2 and isinstance(value, bytes):
            raw = value
    if found != kind:
        raise ValueError(f"expected a {kind}, got {found or 'no kind'}")
    return raw


def _decode_error(exc: Exception) -> KubeError:
    return bad_request(f"the body of the request was in an unknown format - protobuf: {exc}")


def decode_secret(body: bytes) -> dict[str, Any]:
    """A protobuf Secret as the JSON object the fake works on (data values base64, as in JSON)."""
    try:
        secret: dict[str, Any] = {"apiVersion": "v1", "kind": "Secret"}
        for number, value in _fields(_unwrap(body, "Secret")):
            if number == 1 and isinstance(value, bytes):
                secret["metadata"] = _object_meta(value)
            elif number == 2:
                key, item = _map_entry(value)
                secret.setdefault("data", {})[key] = base64.b64encode(item).decode("ascii")
            elif number == 3:
                secret["type"] = _text(value)
            elif number == 4:
                key, item = _map_entry(value)
                secret.setdefault("stringData", {})[key] = item.decode("utf-8")
            elif number == 5:
                secret["immutable"] = bool(value)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _decode_error(exc) from None
    return secret


def decode_delete_options(body: bytes) -> dict[str, Any]:
    """A protobuf DeleteOptions: what matters here is its preconditions."""
    try:
        options: dict[str, Any] = {}
        for number, value in _fields(_unwrap(body, "DeleteOptions")):
            if number == 2 and isinstance(value, bytes):
                names = {1: "uid", 2: "resourceVersion"}
                options["preconditions"] = {names[n]: _text(v) for n, v in _fields(value) if n in names}
            elif number == 4:
                options["propagationPolicy"] = _text(value)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _decode_error(exc) from None
    return options

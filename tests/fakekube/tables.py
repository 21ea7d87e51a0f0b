"""Server-side printing: the ``meta.k8s.io/v1`` Table kubectl asks for (``Accept: ...;as=Table``) to print
``NAME TYPE DATA AGE`` for Secrets, as the real server's printers do."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

_COLUMNS = [
    ("Name", "name", "Name must be unique within a namespace."),
    ("Type", "", "Used to facilitate programmatic handling of secret data."),
    ("Data", "", "Data contains the secret data."),
    ("Age", "", "CreationTimestamp is a timestamp representing the server time when this object was created."),
]


def wants_table(accept: str | None) -> bool:
    """Whether the client's Accept header prefers a Table (kubectl's human output does)."""
    first = (accept or "").split(",")[0]
    return "as=Table" in first and "g=meta.k8s.io" in first


def human_duration(seconds: int) -> str:
    """``duration.HumanDuration``: 42s, 5m3s, 17m, 3h20m, 9h, 2d4h, 40d, 2y30d, 9y."""
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 120:
        return f"{seconds}s"
    minutes, hours = seconds // 60, seconds // 3600
    if minutes < 10:
        return f"{minutes}m{seconds % 60}s" if seconds % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d{hours % 24}h" if hours % 24 else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = hours // 24 % 365
        return f"{hours // 24 // 365}y{days}d" if days else f"{hours // 24 // 365}y"
    return f"{hours // 24 // 365}y"


def _age(timestamp: str | None) -> str:
    if not timestamp:
        return "<unknown>"
    created = datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return human_duration(int((datetime.now(UTC) - created).total_seconds()))


def secrets_table(items: list[dict[str, Any]], list_meta: dict[str, Any]) -> dict[str, Any]:
    """A Table of Secrets; each row carries the object's metadata (without managedFields), no data."""
    rows = []
    for item in items:
        meta = {k: v for k, v in item["metadata"].items() if k != "managedFields"}
        rows.append(
            {
                "cells": [
                    meta["name"],
                    item.get("type", ""),
                    len(item.get("data") or {}),
                    _age(meta.get("creationTimestamp")),
                ],
                "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": meta},
            }
        )
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta,
        "columnDefinitions": [
            {"name": name, "type": "string", "format": fmt, "description": text, "priority": 0}
            for name, fmt, text in _COLUMNS
        ],
        "rows": rows,
    }

"""``metadata.managedFields``: who owns which field, updated on every write as the real field manager does.

The steps follow k8s.io/apiserver's field manager over structured-merge-diff: an Update takes the fields it
added or changed from every other manager and drops removed ones from all; an Apply merges the applied
configuration, prunes what its manager applied last time and no longer names (unless another manager
owns it), and fails with a conflict when it changes a field someone else owns, unless forced.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from . import typed
from .errors import KubeError
from .typed import Path

#: Fields nobody owns (the server's StripMetaManager).
STRIPPED: frozenset[Path] = frozenset(
    {
        ("f:apiVersion",),
        ("f:kind",),
        ("f:metadata",),
        *(
            ("f:metadata", f"f:{name}")
            for name in (
                "name",
                "namespace",
                "creationTimestamp",
                "selfLink",
                "uid",
                "clusterName",
                "generation",
                "managedFields",
                "resourceVersion",
            )
        ),
    }
)
#: The manager that gets an object's existing fields when it is first applied to without any managed fields.
BEFORE_FIRST_APPLY = "before-first-apply"


@dataclass(frozen=True)
class Entry:
    """One ``managedFields`` entry."""

    manager: str
    operation: str  # "Apply" or "Update"
    fields: frozenset[Path]
    time: str | None = None
    api_version: str = "v1"

    @property
    def ident(self) -> str:
        return identifier(self.manager, self.operation, self.api_version)

    def encode(self) -> dict[str, Any]:
        out: dict[str, Any] = {"manager": self.manager, "operation": self.operation, "apiVersion": self.api_version}
        if self.time is not None:
            out["time"] = self.time
        out["fieldsType"] = "FieldsV1"
        out["fieldsV1"] = typed.encode_fields(self.fields)
        return out


Managers = dict[str, Entry]


def identifier(manager: str, operation: str, api_version: str = "v1") -> str:
    """The manager's key (``BuildManagerIdentifier``): appliers are one manager whatever version they use."""
    ident: dict[str, str] = {"manager": manager, "operation": operation}
    if operation != "Apply":
        ident["apiVersion"] = api_version
    return json.dumps(ident, separators=(",", ":"))


def decode(entries: list[dict[str, Any]] | None) -> Managers:
    out: Managers = {}
    for raw in entries or []:
        entry = Entry(
            manager=raw.get("manager", ""),
            operation=raw.get("operation", "Update"),
            fields=frozenset(typed.decode_fields(raw.get("fieldsV1") or {})),
            time=raw.get("time"),
            api_version=raw.get("apiVersion", "v1"),
        )
        out[entry.ident] = entry
    return out


def encode(managers: Managers) -> list[dict[str, Any]]:
    """Entries sorted as the server sorts them: Apply before Update, then by time, manager, version."""
    ordered = sorted(
        managers.values(), key=lambda e: (e.operation, e.time or "", e.manager.encode("utf-8"), e.api_version)
    )
    return [e.encode() for e in ordered]


def _take(managers: Managers, skip: str, taken: set[Path], removed: set[Path]) -> Managers:
    """Every manager but ``skip`` loses ``taken`` and ``removed``; empty managers go."""
    out: Managers = {}
    for ident, entry in managers.items():
        fields = entry.fields if ident == skip else entry.fields - taken - removed
        if fields:
            out[ident] = entry if fields == entry.fields else replace(entry, fields=frozenset(fields))
    return out


def record_update(managers: Managers, old: Any, new: dict[str, Any], manager: str, now: str) -> Managers:
    """Managers after a create, update or non-apply patch by ``manager`` (``old`` is MISSING for a create)."""
    diff = typed.compare({} if old is typed.MISSING else old, new)
    touched = diff.added | diff.modified
    out = _take(managers, "", touched, diff.removed)
    own = touched - diff.removed - STRIPPED
    if own:
        ident = identifier(manager, "Update")
        previous = out.get(ident)
        fields = own | (previous.fields if previous else frozenset())
        out[ident] = Entry(manager, "Update", frozenset(fields), now)
    return out


def record_apply(
    managers: Managers, live: dict[str, Any] | None, config: dict[str, Any], manager: str, *, force: bool, now: str
) -> tuple[dict[str, Any] | None, Managers]:
    """``(merged object or None when nothing changed, managers)`` after ``manager`` applies ``config``.

    ``live`` is the stored object without managedFields, or None when the apply creates it. Raises the
    409 apply conflict listing every field another manager owns and the apply would change.
    """
    base = live if live is not None else {}
    if not managers and live is not None:
        managers = record_update({}, typed.MISSING, live, BEFORE_FIRST_APPLY, now)
    managers = dict(managers)
    ident = identifier(manager, "Apply")
    last = managers.get(ident)
    managers[ident] = Entry(manager, "Apply", frozenset(typed.field_set(config)), last.time if last else None)
    merged = typed.merge(base, config)
    if last is not None:
        merged = _prune(merged, managers, last.fields)
    diff = typed.compare(base, merged)
    touched = diff.added | diff.modified
    conflicts = {i: e.fields & touched for i, e in managers.items() if i != ident and e.fields & touched}
    if conflicts and not force:
        raise apply_conflict(managers, conflicts)
    taken = set().union(*conflicts.values()) if conflicts else set()
    managers = _take(managers, ident, taken, diff.removed)
    changed = merged != base
    mine = managers.get(ident)
    if mine is not None:
        fields = mine.fields - STRIPPED
        if not fields:
            del managers[ident]
        else:
            managers[ident] = replace(mine, fields=frozenset(fields), time=now if changed else mine.time)
    return (merged if changed else None), managers


def _prune(merged: dict[str, Any], managers: Managers, last: frozenset[Path]) -> dict[str, Any]:
    """Drop what the applier applied last time and no longer names, unless some manager owns it
    (SMD ``prune`` with ``addBackOwnedItems`` and ``addBackDanglingItems``)."""
    named_last = typed.with_named_parents(last)
    pruned = typed.remove(merged, named_last) or {}
    owned = typed.with_named_parents(set().union(*(e.fields for e in managers.values())))
    merged_set = typed.with_named_parents(typed.field_set(merged))
    pruned_set = typed.with_named_parents(typed.field_set(pruned))
    pruned = typed.remove(merged, merged_set - (pruned_set | owned)) or {}
    pruned_set = typed.with_named_parents(typed.field_set(pruned))
    return typed.remove(merged, (merged_set - pruned_set) & named_last) or {}


def _manager_text(ident: str) -> str:
    """How a conflict names a manager: ``"kubectl"`` for an applier, ``"kubectl-patch" using v1`` otherwise."""
    entry = json.loads(ident)
    text = json.dumps(entry["manager"], ensure_ascii=False)
    if entry["operation"] == "Update":
        text += f" using {entry.get('apiVersion', '')}"
    return text


def apply_conflict(managers: Managers, conflicts: dict[str, set[Path]]) -> KubeError:
    """The 409 of a conflicting apply, worded as ``getConflictMessage`` words it."""
    ordered = [
        (ident, path) for ident in sorted(conflicts) for path in sorted(conflicts[ident], key=typed.iteration_key)
    ]
    if len(ordered) == 1:
        ident, path = ordered[0]
        message = f"Apply failed with 1 conflict: conflict with {_manager_text(ident)}: {typed.path_string(path)}"
    else:
        lines = []
        for ident in sorted(conflicts):
            lines.append(f"conflicts with {_manager_text(ident)}:")
            lines.extend(f"- {typed.path_string(p)}" for i, p in ordered if i == ident)
        message = f"Apply failed with {len(ordered)} conflicts: " + "\n".join(lines)
    causes = [
        {
            "reason": "FieldManagerConflict",
            "message": f"conflict with {_manager_text(i)}",
            "field": typed.path_string(p),
        }
        for i, p in ordered
    ]
    return KubeError(409, "Conflict", message, {"causes": causes})

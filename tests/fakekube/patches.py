"""The non-apply PATCH bodies: JSON merge patch (RFC 7386), strategic merge patch and JSON patch (RFC 6902).

For a Secret a strategic merge patch differs from a merge patch only in ``metadata.ownerReferences`` and
``metadata.finalizers``, which merge by key instead of being replaced; other directives are ignored.
"""

from __future__ import annotations

import copy
from typing import Any

from .errors import KubeError


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def strategic_patch(target: dict[str, Any], patch: Any) -> Any:
    """A strategic merge patch for a Secret: a merge patch, except that ``metadata.ownerReferences`` merge
    by ``uid`` (``$patch: delete`` removes one) and ``metadata.finalizers`` merge as a set."""
    if not isinstance(patch, dict):
        return merge_patch(target, patch)
    patch = {k: v for k, v in patch.items() if not k.startswith("$")}
    meta_patch = patch.get("metadata")
    if not isinstance(meta_patch, dict):
        return merge_patch(target, patch)
    meta_patch = dict(meta_patch)
    current = target.get("metadata") or {}
    refs = meta_patch.pop("ownerReferences", _ABSENT)
    finalizers = meta_patch.pop("finalizers", _ABSENT)
    dropped = meta_patch.pop("$deleteFromPrimitiveList/finalizers", [])
    meta_patch = {k: v for k, v in meta_patch.items() if not k.startswith("$")}
    out = merge_patch(target, {**patch, "metadata": meta_patch})
    meta = out.setdefault("metadata", {})
    if isinstance(refs, list):
        merged = [dict(r) for r in current.get("ownerReferences") or []]
        for ref in refs:
            if not isinstance(ref, dict):
                continue
            index = next((i for i, r in enumerate(merged) if r.get("uid") == ref.get("uid")), None)
            if ref.get("$patch") == "delete":
                if index is not None:
                    merged.pop(index)
            elif index is None:
                merged.append(ref)
            else:
                merged[index] = merge_patch(merged[index], ref)
        meta["ownerReferences"] = merged
    elif refs is None:
        meta.pop("ownerReferences", None)
    if isinstance(finalizers, list) or dropped:
        added = finalizers if isinstance(finalizers, list) else []
        kept = [f for f in current.get("finalizers") or [] if f not in (dropped or [])]
        meta["finalizers"] = kept + [f for f in added if f not in kept]
    elif finalizers is None:
        meta.pop("finalizers", None)
    return out


_ABSENT: Any = object()


def _invalid(message: str) -> KubeError:
    return KubeError(422, "Invalid", message)


def _pointer(path: Any) -> list[str]:
    if not isinstance(path, str) or (path and not path.startswith("/")):
        raise _invalid(f"the server rejected our request due to an error in our request: invalid path {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path.split("/")[1:]] if path else []


def _parent(doc: Any, parts: list[str], op: str) -> tuple[Any, str]:
    node = doc
    for part in parts[:-1]:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise _invalid(f"doc is missing path: /{'/'.join(parts)}")
    if not parts:
        raise _invalid(f"unable to {op} the whole document")
    return node, parts[-1]


def _get(doc: Any, parts: list[str]) -> Any:
    parent, last = _parent(doc, parts, "read")
    if isinstance(parent, dict) and last in parent:
        return parent[last]
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        return parent[int(last)]
    raise _invalid(f"doc is missing key: /{'/'.join(parts)}")


def _remove(doc: Any, parts: list[str]) -> Any:
    parent, last = _parent(doc, parts, "remove")
    if isinstance(parent, dict) and last in parent:
        return parent.pop(last)
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        return parent.pop(int(last))
    raise _invalid(f"Unable to remove nonexistent key: {last}: missing value")


def _add(doc: Any, parts: list[str], value: Any) -> None:
    parent, last = _parent(doc, parts, "add")
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list) and (last == "-" or (last.isdigit() and int(last) <= len(parent))):
        parent.insert(len(parent) if last == "-" else int(last), value)
    else:
        raise _invalid(f"doc is missing path: /{'/'.join(parts)}")


def json_patch(target: Any, operations: Any) -> Any:
    """RFC 6902: add, remove, replace, move, copy and test, in order."""
    if not isinstance(operations, list):
        raise KubeError(400, "BadRequest", "json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    doc = copy.deepcopy(target)
    for operation in operations:
        op = operation.get("op") if isinstance(operation, dict) else None
        path = _pointer(operation.get("path") if isinstance(operation, dict) else None)
        if op == "add":
            _add(doc, path, copy.deepcopy(operation.get("value")))
        elif op == "remove":
            _remove(doc, path)
        elif op == "replace":
            _remove(doc, path)
            _add(doc, path, copy.deepcopy(operation.get("value")))
        elif op in ("move", "copy"):
            source = _pointer(operation.get("from"))
            value = _remove(doc, source) if op == "move" else copy.deepcopy(_get(doc, source))
            _add(doc, path, value)
        elif op == "test":
            if _get(doc, path) != operation.get("value"):
                raise _invalid(f"testing value /{'/'.join(path)} failed: test failed")
        else:
            raise _invalid(f"Unexpected kind: {op}")
    return doc

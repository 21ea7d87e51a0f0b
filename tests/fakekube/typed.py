"""Schema-aware walks over a Secret, as structured-merge-diff (SMD) does them on the real server.

Server-side apply needs four operations on typed values: the set of fields an object names, a comparison
(added / modified / removed fields), a merge of an applied configuration into the live object, and the
removal of given fields. They depend on the schema: ``data`` and ``labels`` are granular maps (each key
owned separately), ``ownerReferences`` is a list-map keyed by ``uid``, ``finalizers`` a set, the rest
structs and scalars. Only the Secret schema is described here.

A path is a tuple of serialized path elements, as they appear in ``fieldsV1``: ``f:name`` (a field or
map key), ``k:{"uid":"..."}`` (a list-map item) and ``v:"value"`` (a set item).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

Path = tuple[str, ...]
PathSet = frozenset[Path]
#: An absent value (distinct from JSON null).
MISSING: Any = object()


@dataclass(frozen=True)
class Node:
    """A schema type: ``scalar``, ``struct`` (named ``fields``), ``map`` / ``set`` / ``listmap`` (of ``element``)."""

    kind: str
    fields: dict[str, Node] = field(default_factory=dict)
    element: Node | None = None
    keys: tuple[str, ...] = ()


SCALAR = Node("scalar")
#: A list the server treats as one value (managedFields is stripped before SMD sees it).
ATOMIC = Node("scalar")
STRING_MAP = Node("map", element=SCALAR)

OWNER_REFERENCE = Node(
    "struct", {name: SCALAR for name in ("apiVersion", "kind", "name", "uid", "controller", "blockOwnerDeletion")}
)
OBJECT_META = Node(
    "struct",
    {
        **{
            name: SCALAR
            for name in (
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
            )
        },
        "labels": STRING_MAP,
        "annotations": STRING_MAP,
        "ownerReferences": Node("listmap", element=OWNER_REFERENCE, keys=("uid",)),
        "finalizers": Node("set", element=SCALAR),
        "managedFields": ATOMIC,
    },
)
SECRET = Node(
    "struct",
    {
        "apiVersion": SCALAR,
        "kind": SCALAR,
        "metadata": OBJECT_META,
        "immutable": SCALAR,
        "data": STRING_MAP,
        "stringData": STRING_MAP,
        "type": SCALAR,
    },
)


def field_element(name: str) -> str:
    return f"f:{name}"


def item_element(node: Node, item: Any) -> str:
    """The path element of a list item: ``k:{...}`` for a list-map, ``v:...`` for a set."""
    if node.kind == "listmap":
        values = item if isinstance(item, dict) else {}
        key = {k: values.get(k) for k in sorted(node.keys)}
        return "k:" + json.dumps(key, separators=(",", ":"), ensure_ascii=False)
    return "v:" + json.dumps(item, separators=(",", ":"), ensure_ascii=False)


def _children(value: Any, node: Node) -> dict[str, tuple[Any, Node]]:
    """``element -> (child value, child type)`` of a container value; unknown struct fields are skipped."""
    if value is MISSING or value is None:
        return {}
    if node.kind == "struct":
        if not isinstance(value, dict):
            return {}
        return {field_element(k): (v, node.fields[k]) for k, v in value.items() if k in node.fields}
    assert node.element is not None
    if node.kind == "map":
        return {field_element(k): (v, node.element) for k, v in value.items()} if isinstance(value, dict) else {}
    if not isinstance(value, list):
        return {}
    return {item_element(node, item): (item, node.element) for item in value}


# -- field sets -----------------------------------------------------------------------------------


def field_set(value: Any, node: Node = SECRET) -> set[Path]:
    """The fields an object names (SMD ``ToFieldSet``): leaves, map keys, list items; struct fields only
    when null or an empty map."""
    out: set[Path] = set()
    _field_set(value, node, (), out)
    return out


def _field_set(value: Any, node: Node, path: Path, out: set[Path]) -> None:
    if node.kind == "scalar":
        out.add(path)
        return
    for element, (child, child_node) in _children(value, node).items():
        child_path = (*path, element)
        _field_set(child, child_node, child_path, out)
        if node.kind != "struct" or child is None or child == {}:
            out.add(child_path)


def with_named_parents(paths: Iterable[Path], node: Node = SECRET) -> set[Path]:
    """``paths`` plus every prefix that ends in a named struct field (SMD ``EnsureNamedFieldsAreMembers``)."""
    out = set(paths)
    for path in list(out):
        current: Node | None = node
        for i, element in enumerate(path[:-1]):
            if current is None:
                break
            if current.kind == "struct" and element.startswith("f:") and element[2:] in current.fields:
                out.add(path[: i + 1])
                current = current.fields[element[2:]]
            else:
                current = current.element
    return out


# -- comparison -----------------------------------------------------------------------------------


@dataclass
class Comparison:
    added: set[Path] = field(default_factory=set)
    modified: set[Path] = field(default_factory=set)
    removed: set[Path] = field(default_factory=set)


def compare(old: Any, new: Any, node: Node = SECRET) -> Comparison:
    """Which fields ``new`` added, modified or removed relative to ``old`` (SMD ``Compare``)."""
    result = Comparison()
    _compare(old, new, node, (), result)
    return result


def _compare(old: Any, new: Any, node: Node, path: Path, result: Comparison) -> None:
    if node.kind == "scalar":
        if old is MISSING:
            result.added.add(path)
        elif new is MISSING:
            result.removed.add(path)
        elif old != new:
            result.modified.add(path)
        return
    old_children, new_children = _children(old, node), _children(new, node)
    for element in dict.fromkeys([*old_children, *new_children]):
        old_child, child_node = old_children.get(element, (MISSING, None))
        new_child, new_node = new_children.get(element, (MISSING, None))
        _compare(old_child, new_child, child_node or new_node, (*path, element), result)  # type: ignore[arg-type]
    if old is MISSING:
        result.added.add(path)
    elif new is MISSING:
        result.removed.add(path)


# -- merge ----------------------------------------------------------------------------------------


def merge(live: Any, config: Any, node: Node = SECRET) -> Any:
    """``config`` merged into ``live``: scalars replaced, maps and structs merged key by key, list items
    merged by key in SMD's order (SMD ``Merge``)."""
    if config is MISSING:
        return live
    if live is MISSING or node.kind == "scalar":
        return config
    if node.kind in ("struct", "map"):
        if not isinstance(live, dict) or not live:
            return config if config not in (None, {}) else live
        if not isinstance(config, dict):
            return live
        out = {}
        for key, value in live.items():
            child = node.fields.get(key, ATOMIC) if node.kind == "struct" else node.element
            out[key] = merge(value, config.get(key, MISSING), child)  # type: ignore[arg-type]
        for key, value in config.items():
            if key not in live:
                out[key] = value
        return out
    return _merge_list(live if isinstance(live, list) else [], config if isinstance(config, list) else [], node)


def _merge_list(lhs: list[Any], rhs: list[Any], node: Node) -> list[Any]:
    """SMD's list merge: shared items keep the applied order, live-only items stay where they were."""
    assert node.element is not None
    lpes = [item_element(node, i) for i in lhs]
    rpes = [item_element(node, i) for i in rhs]
    lmap, rmap = dict(zip(lpes, lhs, strict=True)), dict(zip(rpes, rhs, strict=True))
    shared = iter([pe for pe in rpes if pe in lmap])
    next_shared = next(shared, None)
    merged_rhs: set[str] = set()
    out: list[Any] = []
    li = ri = 0
    while li < len(lpes) or ri < len(rpes):
        if li < len(lpes) and ri < len(rpes):
            pe = lpes[li]
            if pe == rpes[ri]:
                merged_rhs.add(pe)
                out.append(merge(lmap[pe], rmap[pe], node.element))
                li, ri = li + 1, ri + 1
                next_shared = next(shared, None)
                continue
            if pe in rmap and next_shared is not None and next_shared != pe:
                li += 1
                continue
        if li < len(lpes):
            pe = lpes[li]
            if pe not in rmap:
                out.append(lhs[li])
                li += 1
                continue
            if pe in merged_rhs:
                li += 1
        if ri < len(rpes):
            pe = rpes[ri]
            merged_rhs.add(pe)
            out.append(merge(lmap.get(pe, MISSING), rmap[pe], node.element))
            ri += 1
            if next_shared is not None and next_shared == pe:
                next_shared = next(shared, None)
    return out


# -- removal --------------------------------------------------------------------------------------


def remove(value: Any, paths: Iterable[Path], node: Node = SECRET) -> Any:
    """``value`` without the subtrees at ``paths`` (SMD ``RemoveItems``); emptied containers become None."""
    return _remove(value, set(paths), node)


def _remove(value: Any, paths: set[Path], node: Node) -> Any:
    if node.kind == "scalar" or not paths or value is None:
        return value
    if node.kind in ("struct", "map"):
        if not isinstance(value, dict) or not value:
            return value
        out = {}
        for key, child in value.items():
            element = field_element(key)
            if (element,) in paths:
                continue
            below = {p[1:] for p in paths if len(p) > 1 and p[0] == element}
            if below:
                child_node = node.fields.get(key, ATOMIC) if node.kind == "struct" else node.element
                child = _remove(child, below, child_node)  # type: ignore[arg-type]
            out[key] = child
        return out or None
    if not isinstance(value, list) or not value:
        return value
    assert node.element is not None
    items = []
    for item in value:
        element = item_element(node, item)
        if (element,) in paths:
            continue
        below = {p[1:] for p in paths if len(p) > 1 and p[0] == element}
        items.append(_remove(item, below, node.element) if below else item)
    return items or None


# -- paths as text and in fieldsV1 ------------------------------------------------------------------

_RANK = {"f": 0, "k": 1, "v": 2, "i": 3}


def element_key(element: str) -> tuple[int, bytes]:
    """SMD's order of path elements: fields, then keys, then values; each by its text."""
    return _RANK.get(element[0], 9), element[2:].encode("utf-8")


def iteration_key(path: Path) -> tuple[tuple[int, int, bytes], ...]:
    """SMD's set iteration order: at each level the members before the children, each sorted."""
    return tuple((0 if i == len(path) - 1 else 1, *element_key(e)) for i, e in enumerate(path))


def path_string(path: Path) -> str:
    """``.data.password``, ``.metadata.ownerReferences[uid="..."]``, ``.metadata.finalizers[="x"]``."""
    parts = []
    for element in path:
        kind, text = element[0], element[2:]
        if kind == "f":
            parts.append("." + text)
        elif kind == "k":
            key = json.loads(text)
            parts.append(
                "["
                + ",".join(f"{k}={json.dumps(v, separators=(',', ':'), ensure_ascii=False)}" for k, v in key.items())
                + "]"
            )
        else:
            parts.append(f"[={text}]")
    return "".join(parts)


def encode_fields(paths: Iterable[Path]) -> dict[str, Any]:
    """A path set as ``fieldsV1``: nested ``{"f:data": {"f:key": {}}}``; ``".": {}`` marks a member
    that also has children."""
    tree: dict[str, Any] = {}
    members: set[Path] = set()
    for path in paths:
        members.add(path)
        node = tree
        for element in path:
            node = node.setdefault(element, {})
    return _serialize(tree, (), members)


def _serialize(tree: dict[str, Any], prefix: Path, members: set[Path]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for element in sorted(tree, key=element_key):
        path = (*prefix, element)
        children = _serialize(tree[element], path, members)
        if children and path in members:
            children = {".": {}, **children}
        out[element] = children
    return out


def decode_fields(fields: dict[str, Any]) -> set[Path]:
    """The path set of a ``fieldsV1`` object."""
    out: set[Path] = set()
    _decode(fields, (), out)
    return out


def _decode(fields: dict[str, Any], prefix: Path, out: set[Path]) -> None:
    for element, children in fields.items():
        if element == ".":
            out.add(prefix)
            continue
        path = (*prefix, element)
        if not children:
            out.add(path)
        else:
            _decode(children, path, out)

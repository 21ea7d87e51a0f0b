"""Label and field selectors of LIST requests, parsed as the API server parses them.

Label selectors: ``k=v``, ``k==v``, ``k!=v``, ``k in (a,b)``, ``k notin (a,b)``, ``k``, ``!k``, joined by
commas (AND). Field selectors for Secrets: ``metadata.name``, ``metadata.namespace`` and ``type`` with
``=``, ``==`` or ``!=``. A selector the server would refuse is a 400.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from .errors import bad_request

Matcher = Callable[[dict[str, Any]], bool]

_KEY = r"[A-Za-z0-9][-A-Za-z0-9_./]*"
_VALUE = r"[-A-Za-z0-9_.]*"
_SET_OP = re.compile(rf"^\s*({_KEY})\s+(in|notin)\s+\(([^)]*)\)\s*$")
_EQ_OP = re.compile(rf"^\s*({_KEY})\s*(==|!=|=)\s*({_VALUE})\s*$")
_EXISTS = re.compile(rf"^\s*(!?)\s*({_KEY})\s*$")


def _split(selector: str) -> list[str]:
    """Split on commas outside parentheses."""
    parts, depth, current = [], 0, []
    for ch in selector:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return [p for p in parts if p.strip()]


def label_selector(selector: str | None) -> Matcher:
    """A predicate on an object's ``metadata.labels``."""
    if not selector or not selector.strip():
        return lambda obj: True
    tests: list[Callable[[dict[str, str]], bool]] = []
    for part in _split(selector):
        if m := _SET_OP.match(part):
            key, op = m.group(1), m.group(2)
            values = {v.strip() for v in m.group(3).split(",") if v.strip()}
            if op == "in":
                tests.append(lambda labels, k=key, vs=values: k in labels and labels[k] in vs)
            else:
                tests.append(lambda labels, k=key, vs=values: k not in labels or labels[k] not in vs)
        elif m := _EQ_OP.match(part):
            key, op, value = m.groups()
            if op == "!=":
                tests.append(lambda labels, k=key, v=value: labels.get(k) != v)
            else:
                tests.append(lambda labels, k=key, v=value: k in labels and labels[k] == v)
        elif m := _EXISTS.match(part):
            negate, key = m.groups()
            if negate:
                tests.append(lambda labels, k=key: k not in labels)
            else:
                tests.append(lambda labels, k=key: k in labels)
        else:
            raise bad_request(f"unable to parse requirement: found '{part.strip()}', expected: key")

    def matches(obj: dict[str, Any]) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return all(test(labels) for test in tests)

    return matches


_FIELDS: dict[str, Callable[[dict[str, Any]], str]] = {
    "metadata.name": lambda obj: obj["metadata"].get("name", ""),
    "metadata.namespace": lambda obj: obj["metadata"].get("namespace", ""),
    "type": lambda obj: obj.get("type", ""),
}


def field_selector(selector: str | None) -> Matcher:
    """A predicate on the fields the Secret registry supports for selection."""
    if not selector or not selector.strip():
        return lambda obj: True
    tests: list[Matcher] = []
    for part in _split(selector):
        m = re.match(r"^\s*([^=!\s]+)\s*(==|!=|=)\s*(.*?)\s*$", part)
        if not m:
            raise bad_request(f"invalid selector: '{selector}'; can't understand '{part.strip()}'")
        name, op, value = m.groups()
        getter = _FIELDS.get(name)
        if getter is None:
            raise bad_request(f"field label not supported: {name}")
        if op == "!=":
            tests.append(lambda obj, g=getter, v=value: g(obj) != v)
        else:
            tests.append(lambda obj, g=getter, v=value: g(obj) == v)
    return lambda obj: all(test(obj) for test in tests)

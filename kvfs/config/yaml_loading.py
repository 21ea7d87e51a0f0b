"""YAML as Kubernetes and the provider read it: duplicate keys refused, errors on one line.

The document itself is loaded with safe types; the provider's nested ``objects`` string and its
items are loaded with every scalar kept as a string, as Go unmarshals them into string fields.
"""

from __future__ import annotations

from typing import Any

import yaml

from .messages import Context, quote


def _reject_duplicate_keys(node: yaml.Node) -> None:
    """Refuse a mapping that repeats a key, as Go's yaml.v3 and kubectl do (PyYAML keeps the last)."""
    if not isinstance(node, yaml.MappingNode):
        return
    seen: set[str] = set()
    for key_node, _ in node.value:
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
            continue
        if key_node.value in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {quote(key_node.value)}", key_node.start_mark
            )
        seen.add(key_node.value)


class _SafeLoader(yaml.SafeLoader):
    """The SecretProviderClass document: safe types, no duplicate keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        _reject_duplicate_keys(node)
        return super().construct_mapping(node, deep=deep)


class _StringLoader(yaml.BaseLoader):
    """The ``objects`` string and its items: every scalar stays a string, as in the provider.

    The provider unmarshals these into Go string fields, which take any scalar's text unchanged
    (``filePermission: 0600`` stays ``"0600"``, ``objectVersion: 1e3`` stays ``"1e3"``).
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        _reject_duplicate_keys(node)
        return super().construct_mapping(node, deep=deep)


def _yaml_problem(exc: yaml.YAMLError, what: str) -> str:
    """``invalid YAML at line 3, column 5 <what>: <problem>``, without PyYAML's multi-line excerpt."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or type(exc).__name__
    place = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"invalid YAML{place}{what}: {problem}"


def load_documents(text: str, ctx: Context) -> list[Any]:
    """Every document of ``text`` (a file may hold several, separated by ``---``)."""
    try:
        return list(yaml.load_all(text, Loader=_SafeLoader))
    except yaml.YAMLError as exc:
        ctx.fail("", _yaml_problem(exc, ""))
    except RecursionError:
        ctx.fail("", "invalid YAML: nested too deeply")


def load_string_yaml(text: str, where: str, what: str, ctx: Context) -> Any:
    """One nested YAML string (``objects`` or an item of its array), every scalar a string."""
    try:
        return yaml.load(text, Loader=_StringLoader)
    except yaml.YAMLError as exc:
        ctx.fail(where, _yaml_problem(exc, what))
    except RecursionError:
        ctx.fail(where, "invalid YAML: nested too deeply")

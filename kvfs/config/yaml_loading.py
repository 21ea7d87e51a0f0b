"""YAML as Kubernetes and the provider read it: duplicate keys refused, errors on one line.

The document itself is loaded with safe types; the provider's nested ``objects`` string and its
items are loaded with every scalar kept as a string, as Go unmarshals them into string fields.
Every way PyYAML can fail on hostile text (a tag its constructor cannot read, an escape that is no
character, a control character, nesting deeper than the stack) is a ``ConfigError`` naming the line.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from .messages import Context, as_text, quote

_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_SURROGATE = re.compile("[\ud800-\udfff]")
_LINE_BREAK = re.compile("\r\n|[\n\r\x85\u2028\u2029]")


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


def _check_scalar(node: yaml.ScalarNode) -> None:
    """Refuse a ``\\uD800``-style escape: half a surrogate pair is no character (PyYAML keeps it, Go's
    YAML refuses it, and no file name or HTTP request can carry it)."""
    if _SURROGATE.search(node.value):
        raise yaml.constructor.ConstructorError(
            None, None, "found invalid Unicode character escape code (a lone surrogate)", node.start_mark
        )


class _SafeLoader(yaml.SafeLoader):
    """The SecretProviderClass document: safe types, no duplicate keys, timestamps kept as text.

    Kubernetes (sigs.k8s.io/yaml, go-yaml v2) reads an unquoted ``2024-01-01`` as the string it
    looks like, not as a date, so we do too; an explicit tag its constructor cannot read
    (``!!int abc``, a number too long for Python) is a YAML error at its line.
    """

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        _reject_duplicate_keys(node)
        return super().construct_mapping(node, deep=deep)

    def construct_scalar(self, node: yaml.ScalarNode) -> Any:
        _check_scalar(node)
        return super().construct_scalar(node)

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError):
            tag = node.tag.replace("tag:yaml.org,2002:", "!!")
            what = quote(as_text(node.value)) if isinstance(node, yaml.ScalarNode) else "this node"
            raise yaml.constructor.ConstructorError(
                None, None, f"{what} cannot be read as {tag}", node.start_mark
            ) from None


class _StringLoader(yaml.BaseLoader):
    """The ``objects`` string and its items: every scalar stays a string, as in the provider.

    The provider unmarshals these into Go string fields, which take any scalar's text unchanged
    (``filePermission: 0600`` stays ``"0600"``, ``objectVersion: 1e3`` stays ``"1e3"``).
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        _reject_duplicate_keys(node)
        return super().construct_mapping(node, deep=deep)

    def construct_scalar(self, node: yaml.ScalarNode) -> Any:
        _check_scalar(node)
        return super().construct_scalar(node)


def _yaml_problem(exc: yaml.YAMLError, text: str, what: str) -> str:
    """``invalid YAML at line 3, column 5 <what>: <problem>``, without PyYAML's multi-line excerpt."""
    if isinstance(exc, yaml.reader.ReaderError):  # a character YAML does not allow, anywhere in the text
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        return f"invalid YAML{_place(text, exc.position)}{what}: {exc.reason} (U+{code:04X})"
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or type(exc).__name__
    place = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"invalid YAML{place}{what}: {problem}"


def _place(text: str, position: int) -> str:
    """`` at line L, column C`` of a character offset, counting line breaks as YAML does."""
    lines = _LINE_BREAK.split(text[:position])
    return f" at line {len(lines)}, column {len(lines[-1]) + 1}"


def _load(loader: yaml.BaseLoader, text: str, where: str, what: str, ctx: Context, *, single: bool) -> list[Any]:
    """The documents the loader reads from ``text`` (exactly one when ``single``, None if empty); any
    failure is a ``ConfigError`` at ``where``."""
    documents = []
    try:
        if single:
            documents.append(loader.get_single_data())
        while not single and loader.check_data():
            documents.append(loader.get_data())
    except yaml.YAMLError as exc:
        ctx.fail(where, _yaml_problem(exc, text, what))
    except RecursionError:  # the composer and constructor recurse once per level of nesting
        ctx.fail(where, f"invalid YAML{_at(loader)}{what}: nested too deeply")
    except ValueError:  # the scanner's chr() on an escape such as "\U10010000", beyond U+10FFFF
        ctx.fail(where, f"invalid YAML{_at(loader)}{what}: an escape names no Unicode character (above U+10FFFF)")
    finally:
        loader.dispose()
    return documents


def _at(loader: yaml.BaseLoader) -> str:
    mark = loader.get_mark()
    return f" at line {mark.line + 1}, column {mark.column + 1}"


def load_documents(text: str, ctx: Context) -> list[Any]:
    """Every document of ``text`` (a file may hold several, separated by ``---``)."""
    try:
        loader = _SafeLoader(text)
    except yaml.YAMLError as exc:  # the reader checks the characters it reads at once
        ctx.fail("", _yaml_problem(exc, text, ""))
    return _load(loader, text, "", "", ctx, single=False)


def load_string_yaml(text: str, where: str, what: str, ctx: Context) -> Any:
    """One nested YAML string (``objects`` or an item of its array), every scalar a string."""
    try:
        loader = _StringLoader(text)
    except yaml.YAMLError as exc:
        ctx.fail(where, _yaml_problem(exc, text, what))
    return _load(loader, text, where, what, ctx, single=True)[0]

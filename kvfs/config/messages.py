"""The one-line errors and warnings of the config parser, and the quoting that keeps them short.

Every message starts with where the text came from (``Context``), then the field, then the
problem. User values are quoted escaped and truncated (``quote``) or only named by their YAML kind
(``kind_of``), so no message echoes a document or breaks the line.
"""

from __future__ import annotations

import difflib
import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any, NoReturn

from ..errors import ConfigError

#: Every module of the package warns here: the logger of the old single module, which tests capture.
log = logging.getLogger("kvfs.config")

QUOTE_LIMIT = 60


class Context:
    """Where the text came from; builds the one-line errors and warnings that start with it."""

    def __init__(self, origin: str) -> None:
        self.origin = origin

    def fail(self, where: str, problem: str) -> NoReturn:
        raise ConfigError(self._line(where, problem))

    def warn(self, where: str, problem: str) -> None:
        log.warning("%s", self._line(where, problem))

    def _line(self, where: str, problem: str) -> str:
        parts = [self.origin, where, problem] if where else [self.origin, problem]
        return _one_line(": ".join(parts))


def _one_line(text: str) -> str:
    """Escape line breaks and other unprintable characters so a message stays one line."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else _escape_char(ch) for ch in text)


def _escape_char(ch: str) -> str:
    return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(ch) or ch.encode("unicode_escape").decode("ascii")


def quote(value: str, limit: int = QUOTE_LIMIT) -> str:
    """Quote a short user value for a message: escaped, and truncated so no document is echoed."""
    return f'"{shorten(value, limit)}"'


def shorten(value: str, limit: int = QUOTE_LIMIT) -> str:
    """``value`` escaped and truncated: at most ``limit`` of its characters, and at most twice that once
    escaped, so a value of control characters or unassigned code points cannot make the line long either."""
    shown: list[str] = []
    length = 0
    for count, ch in enumerate(value):
        piece = _quote_char(ch)
        if count == limit or length + len(piece) > 2 * limit:
            shown.append("…")
            break
        shown.append(piece)
        length += len(piece)
    return "".join(shown)


def _quote_char(ch: str) -> str:
    if ch in '\\"':
        return "\\" + ch
    return ch if ch.isprintable() else _escape_char(ch)


def as_text(value: object) -> str:
    """``str(value)`` for a YAML key or scalar of any kind; an integer too long for ``str`` (over 4300
    digits) is written in hex, which Python prints at any length."""
    try:
        return str(value)
    except ValueError:
        return hex(value) if isinstance(value, int) else kind_of(value)


_PLAIN_KEY = re.compile(r"[A-Za-z0-9_./-]{1,64}")


def key_name(key: str) -> str:
    """A key as a message names it: as it is when plain (``keyvaultName``), else quoted, escaped and truncated."""
    return key if _PLAIN_KEY.fullmatch(key) else quote(key)


def kind_of(value: object) -> str:
    """A value's YAML kind for messages, so a misplaced structure is named, not printed."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return f"a {type(value).__name__}"


def did_you_mean(key: str, known: Iterable[str]) -> str:
    """`` (did you mean "x"?)`` when ``key`` is a case variant or close misspelling of a known key."""
    candidates = list(known)
    by_lower = {k.lower(): k for k in reversed(candidates)}  # the first spelling wins
    match = by_lower.get(key.lower())
    if match is None:
        close = difflib.get_close_matches(key, candidates, n=1, cutoff=0.75)
        match = close[0] if close else None
    return f" (did you mean {quote(match)}?)" if match else ""


def warn_unknown_keys(mapping: Mapping[str, Any], known: tuple[str, ...], where: str, ctx: Context) -> None:
    for key in mapping:
        if key not in known:
            ctx.warn(where, f"unknown key {quote(as_text(key))} is ignored{did_you_mean(as_text(key), known)}")


def missing_hint(mapping: Mapping[str, str], wanted: str, known: Iterable[str] = ()) -> str:
    """When a required key is absent but an unknown case variant is present, say keys are case-sensitive."""
    accepted = set(known)
    for key in mapping:
        if key != wanted and key not in accepted and key.lower() == wanted.lower():
            return f" (found {quote(key)}: names are case-sensitive)"
    return ""

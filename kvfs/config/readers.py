"""``allowedUids`` and ``allowedGids`` (kvfs only): which callers may open an object's file.

The provider has no such fields (it ignores unknown ones), so a class that uses them still works
there, with the mode bits alone. Each is a list of numeric ids (or a single one); the values come
from the objects string, where every scalar is a string.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .messages import Context, as_text, did_you_mean, kind_of, quote

READER_FIELDS = ("allowedUids", "allowedGids")
#: 4294967295 is (uid_t)-1, "no id" to the kernel: no caller has it.
MAX_ID = 2**32 - 2
_ID = re.compile(r"[0-9]{1,10}")


def refuse_misspelt(keys: Iterable[object], where: str, ctx: Context) -> None:
    """A misspelt reader rule is an error, not the usual warning: ignoring it would let every reader in."""
    for key in keys:
        text = as_text(key)
        if text in READER_FIELDS:
            continue
        same_letters = [f for f in READER_FIELDS if f.lower() == re.sub(r"[^a-z]", "", text.lower())]
        hint = f" (did you mean {quote(same_letters[0])}?)" if same_letters else did_you_mean(text, READER_FIELDS)
        if hint:
            ctx.fail(where, f"unknown key {quote(text)}{hint}: ignoring it would let every reader open the file")


def read_ids(value: object, key: str, where: str, ctx: Context) -> tuple[int, ...] | None:
    """The ids of ``allowedUids``/``allowedGids``: None when absent, else at least one valid id."""
    if value is None:
        return None
    if not isinstance(value, str | list):
        ctx.fail(where, f"{key} must be a list of numeric ids like [1000, 1001], not {kind_of(value)}")
    items = value if isinstance(value, list) else [value]
    if not items or items == [""]:
        ctx.fail(where, f"{key} is empty, so no one could open the file (remove it to rely on filePermission alone)")
    ids: list[int] = []
    for item in items:
        if not isinstance(item, str):
            ctx.fail(where, f"{key} must be a list of numeric ids like [1000, 1001], not one holding {kind_of(item)}")
        text = item.strip()
        if not _ID.fullmatch(text) or int(text) > MAX_ID:
            ctx.fail(where, f"{key} holds {quote(text)}, which is not a numeric id (0 to {MAX_ID}; names are not read)")
        if int(text) not in ids:
            ids.append(int(text))
    return tuple(ids)

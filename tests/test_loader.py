"""Which versions a history folder holds."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kvfs.config import ObjectSpec
from kvfs.content.material import VersionInfo
from kvfs.engine.loader import select_history
from kvfs.errors import ObjectNotFound


def versions(*entries: tuple[str, int, bool]) -> list[VersionInfo]:
    return [VersionInfo("s", v, datetime.fromtimestamp(t, UTC), None, enabled) for v, t, enabled in entries]


LISTED = versions(("a", 100, True), ("e", 500, True), ("c", 300, False), ("b", 200, True), ("d", 400, True))


def spec(history: int, version: str = "") -> ObjectSpec:
    return ObjectSpec(0, "s", "secret", "s", version=version, version_history=history)


def test_newest_first_disabled_skipped_exactly_n() -> None:
    assert select_history(spec(3), LISTED) == ["e", "d", "b"]


def test_fewer_versions_than_n() -> None:
    assert select_history(spec(10), LISTED) == ["e", "d", "b", "a"]


def test_a_pinned_version_starts_the_folder() -> None:
    assert select_history(spec(2, version="d"), LISTED) == ["d", "b"]


def test_a_pinned_version_that_is_disabled_or_missing_is_not_found() -> None:
    with pytest.raises(ObjectNotFound, match="version c"):
        select_history(spec(2, version="c"), LISTED)

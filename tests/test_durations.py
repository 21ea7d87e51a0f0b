"""Go-style durations for --rotation-poll-interval and --hook-timeout."""

from __future__ import annotations

import pytest

from kvfs.durations import parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("2m", 120), ("30s", 30), ("1h30m", 5400), ("500ms", 0.5), ("1.5s", 1.5), ("0", 0), ("2m3s", 123)],
)
def test_go_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "2", "m", "2 minutes", "-1s", "1d"])
def test_bad_durations_name_the_text(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)

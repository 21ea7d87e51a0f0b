"""Go-style durations (``30s``, ``2m``, ``1h30m``, ``500ms``), as the provider's flags take them."""

from __future__ import annotations

import re

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")


def parse_duration(text: str) -> float:
    """Seconds in a Go duration string; raises ValueError naming the text when it is not one."""
    value = text.strip()
    if value == "0":
        return 0.0
    position, total = 0, 0.0
    while position < len(value):
        match = _PART.match(value, position)
        if match is None:
            raise ValueError(f"{text!r} is not a duration (examples: 30s, 2m, 1h30m, 500ms)")
        total += float(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
    if not value:
        raise ValueError("an empty string is not a duration")
    return total

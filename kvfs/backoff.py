"""Retrying later: exponential backoff with jitter, shared by polling and the sinks that retry."""

from __future__ import annotations

import random


class Backoff:
    """Exponential backoff with jitter, capped at the poll interval, never shorter than Retry-After."""

    def __init__(self, ceiling: float, base: float = 1.0) -> None:
        self.ceiling = ceiling
        self.base = base
        self.failures = 0

    def reset(self) -> None:
        self.failures = 0

    def next_delay(self, retry_after: float | None = None) -> float:
        self.failures += 1
        delay = min(self.ceiling, self.base * 2 ** (self.failures - 1))
        delay = random.uniform(delay / 2, delay)
        return max(delay, retry_after or 0.0)

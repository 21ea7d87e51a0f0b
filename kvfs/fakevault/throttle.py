"""Key Vault's request budget: ``budget`` vault transactions per ``window`` seconds, then 429 ``Throttled``.

The service counts per vault, so one ``Throttle`` serves every connection of a fake vault. Only vault
requests that carry a valid token reach it (the server decides: authority, IMDS, ``/_fake/`` hooks, 401
challenges and fault answers are never counted). One budget covers all vault requests; the service's
smaller, separate limits for writes and key creation are not modelled.

Window model: a **sliding window** (a log of admission times). A request is admitted when fewer than
``budget`` requests were admitted in the last ``window`` seconds. Unlike fixed windows this never lets
2 x ``budget`` through around a window boundary, and the wait until a slot frees is known exactly: the
oldest admission in the window plus ``window``. Memory is one float per admitted request in the window.

Throttled requests are not recorded in the log, so they use no budget: Microsoft documents that 429
answers do not count toward the limit.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

#: Key Vault's answer once the budget is spent (the real service's code and message).
THROTTLED_BODY = {
    "error": {
        "code": "Throttled",
        "message": "Request was not processed because too many requests were received. "
        "Reason: VaultRequestTypeLimitReached",
    }
}


def check_limit(budget: Any, window: Any) -> tuple[int, float]:
    """``(budget, window)`` validated; raises ValueError saying what is wrong."""
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
        raise ValueError(f"the throttle budget must be a whole number of requests >= 1, not {budget!r}")
    if isinstance(window, bool) or not isinstance(window, int | float) or not math.isfinite(window) or window <= 0:
        raise ValueError(f"the throttle window must be a number of seconds > 0, not {window!r}")
    return budget, float(window)


class Throttle:
    """A thread-safe sliding-window budget; admits everything while no limit is set."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._limit: tuple[int, float] | None = None
        self._admitted_at: deque[float] = deque()
        self._admitted = 0
        self._throttled = 0
        self._peak = 0

    def set_limit(self, budget: int, window: float) -> None:
        """Limit to ``budget`` requests per ``window`` seconds, starting afresh (full budget, counters zero)."""
        limit = check_limit(budget, window)
        with self._lock:
            self._limit = limit
            self._admitted_at.clear()
            self._zero()

    def clear_limit(self) -> None:
        """Admit everything again; counters are zeroed (they describe a limit that no longer applies)."""
        with self._lock:
            self._limit = None
            self._admitted_at.clear()
            self._zero()

    def _zero(self) -> None:
        self._admitted = self._throttled = self._peak = 0

    def _in_window(self, now: float) -> int:
        """Drop admissions older than the window; the number left. Caller holds the lock and a limit is set."""
        assert self._limit is not None
        window = self._limit[1]
        while self._admitted_at and self._admitted_at[0] + window <= now:
            self._admitted_at.popleft()
        return len(self._admitted_at)

    def admit(self) -> int | None:
        """For one vault request: None when admitted (it uses one unit of budget), else the whole seconds
        (>= 1) until a unit frees, for ``Retry-After``. A throttled request uses no budget."""
        with self._lock:
            if self._limit is None:
                return None
            budget, window = self._limit
            now = self._clock()
            used = self._in_window(now)
            if used < budget:
                self._admitted_at.append(now)
                self._admitted += 1
                self._peak = max(self._peak, used + 1)
                return None
            self._throttled += 1
            return max(1, math.ceil(self._admitted_at[0] + window - now))

    def stats(self, *, reset: bool = False) -> dict[str, Any]:
        """``budget``, ``window`` (None without a limit), ``admitted``, ``throttled``, ``in_window`` (budget in use
        now) and ``peak`` (most ever in use in one window). ``reset`` zeroes the counters after reading them, in
        one step (benchmark phases); the window itself is kept, as the service's would be."""
        with self._lock:
            budget, window = self._limit if self._limit is not None else (None, None)
            in_window = self._in_window(self._clock()) if self._limit is not None else 0
            out = {
                "budget": budget,
                "window": window,
                "admitted": self._admitted,
                "throttled": self._throttled,
                "in_window": in_window,
                "peak": self._peak,
            }
            if reset:
                self._zero()
            return out

"""Starting against a vault that throttles or fails for a while.

When a fleet starts at once (a node drain, a rollout), the vault's budget is spent for a while and
answers 429. A pod that gives up after the SDK's three retries crash-loops and makes it worse. At
start, kvfs retries transient failures itself until a deadline the user sets (``--start-timeout``),
waiting at least the vault's ``Retry-After`` and then a random part of an exponential backoff, so
that the fleet does not come back in step.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import trio

from ..backoff import Backoff
from ..errors import BackendError, Throttled

log = logging.getLogger(__name__)
T = TypeVar("T")

BACKOFF_BASE = 0.25  # seconds: the first wait beyond Retry-After is up to this, then twice as long each time
BACKOFF_CEILING = 30.0  # seconds: the longest wait between two tries of one request (beyond Retry-After)


class StartPatience:
    """Retries transient failures until the deadline; shared by every request of one start."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout
        self.retries = 0
        self.throttled = 0
        self._told = False

    @property
    def retrying(self) -> bool:
        """With a deadline, kvfs retries; without one (0) the SDK's own few retries are all there is."""
        return self.timeout > 0

    async def call(self, request: Callable[[bool], Awaitable[T]]) -> T:
        """``request(sdk_retries)``: made once with the SDK's retries when not retrying, else without them
        and again after each transient failure, until the deadline would pass."""
        if not self.retrying:
            return await request(True)
        backoff = Backoff(ceiling=BACKOFF_CEILING, base=BACKOFF_BASE)
        while True:
            try:
                return await request(False)
            except BackendError as exc:
                if not exc.transient:
                    raise
                retry_after = exc.retry_after if isinstance(exc, Throttled) else None
                delay = (retry_after or 0.0) + random.uniform(0.0, backoff.next_delay())
                if time.monotonic() + delay > self.deadline:
                    raise
                self._note(exc)
                await trio.sleep(delay)

    def _note(self, error: BackendError) -> None:
        self.retries += 1
        if isinstance(error, Throttled):
            self.throttled += 1
        if not self._told:
            self._told = True
            log.warning("starting: %s; retrying with backoff for up to %.0fs (--start-timeout)", error, self.timeout)

    def summary(self) -> str:
        return f"{self.retries} retries ({self.throttled} after 429)" if self.retries else ""

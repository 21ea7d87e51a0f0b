"""What the probes check.

- ``/healthz`` (liveness): the process answers, and once mounted its FUSE loop too: a ``statvfs`` of
  the mount (a request the kernel always passes to kvfs, never answers from its cache) from a worker
  thread, with a deadline, so a hung loop fails the probe instead of hanging it.
- ``/readyz`` (readiness, startup): mounted (or, without a mount, loaded) with every required object.
  A vault outage does not make kvfs unready (the content is still served); the JSON body says how
  stale it is.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import trio

if TYPE_CHECKING:
    from ..vault.tokens import TokenStats

PROBE_TIMEOUT = 2.0


@dataclass
class Health:
    """What the probes look at. The daemon sets ``ready`` and fills in the rest as it goes."""

    mountpoint: Path | None = None
    ready: bool = False
    poll_interval: float | None = None
    objects: Callable[[], int] = lambda: 0
    last_success_age: Callable[[], float | None] = lambda: None
    secrets_unwritten: Callable[[], int | None] = lambda: None
    tokens: TokenStats | None = None
    _probe_in_flight: bool = field(default=False, repr=False)

    async def liveness(self) -> tuple[bool, str]:
        if self.mountpoint is None or not self.ready:
            return True, "ok"
        if self._probe_in_flight:  # an earlier statvfs is still stuck: do not pile up threads
            return False, "the FUSE loop has not answered an earlier probe"
        self._probe_in_flight = True
        started = time.monotonic()
        with trio.move_on_after(PROBE_TIMEOUT):
            await trio.to_thread.run_sync(self._statvfs, abandon_on_cancel=True)
            return True, f"ok: the mount answered in {time.monotonic() - started:.3f}s"
        return False, f"the mount did not answer within {PROBE_TIMEOUT:g}s"

    def _statvfs(self) -> None:
        try:
            os.statvfs(str(self.mountpoint))
        finally:
            self._probe_in_flight = False

    def readiness(self) -> tuple[bool, dict[str, object]]:
        age = self.last_success_age()
        body: dict[str, object] = {"ready": self.ready, "objects": self.objects()}
        if self.mountpoint is not None:
            body["mountpoint"] = str(self.mountpoint)
        if self.poll_interval is None:
            body["rotation"] = "off"
        elif age is not None:
            body["last_successful_poll_age_seconds"] = round(age, 3)
            body["stale"] = age > 2 * self.poll_interval  # a poll (and its retries) has not reached the vault
        unwritten = self.secrets_unwritten()
        if unwritten is not None:
            body["secrets_unwritten"] = unwritten
        if self.tokens is not None:
            left = self.tokens.seconds_left()
            body["token"] = {
                "expires_in_seconds": None if left is None else round(left, 1),
                "refresh_failures": self.tokens.refresh_failures,
                "last_refresh_error": self.tokens.last_error or None,  # a refresh failing before expiry shows here
            }
        return self.ready, body

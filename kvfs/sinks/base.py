"""The one small interface between the engine and everything that consumes its results.

The engine publishes a ``ChangeSet`` after the initial load and after every poll that found new
versions. Each sink (the FUSE mount, Kubernetes Secrets, hooks, ...) gets every change set, in the
order the daemon composed them: files first, then Secrets, then hooks, so that a hook which restarts
an application finds everything already changed. No sink knows about another, and one sink's
failure is its own: it is logged and the next sink still runs.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

from ..content.files import ChangeSet

log = logging.getLogger(__name__)


class Sink(Protocol):
    """Takes change sets. ``publish`` may wait (a sink that must finish before the next one starts does),
    but it must never raise for its own failures: it reports and retries them itself."""

    name: str

    async def publish(self, change: ChangeSet) -> None: ...


class Publisher:
    """Hands each change set to every sink in order."""

    def __init__(self, sinks: Sequence[Sink]) -> None:
        self.sinks = list(sinks)

    async def publish(self, change: ChangeSet) -> None:
        for sink in self.sinks:
            try:
                await sink.publish(change)
            except Exception:  # a bug in one sink must not stop the others or the engine
                log.exception("%s: publishing generation %d failed", sink.name, change.generation)

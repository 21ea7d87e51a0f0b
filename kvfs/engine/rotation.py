"""Keep served content current at a fraction of the provider's vault calls.

Each poll lists every kind in use (one call per 25 objects) and compares each object's latest
``updated`` time with the version being served; only objects that changed are fetched. Pinned
versions are never fetched again. All changes found in one poll are applied in one swap. When
the vault fails, content already served stays as it is and polls back off (exponentially, with
jitter, honouring Retry-After, never longer than one interval) until it answers again.
"""

from __future__ import annotations

import logging
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

import trio

from ..backoff import Backoff
from ..config import ObjectSpec
from ..content.files import ChangeSet, FileContent
from ..content.material import Material, VersionInfo
from ..errors import AccessDenied, BackendError, KvfsError, ObjectDisabled, ObjectNotFound, Throttled
from ..vault.backend import VaultBackend
from .loader import files_for, select_history

log = logging.getLogger(__name__)
T = TypeVar("T")

#: A listed ``updated`` time this close to when the version was fetched may hide a newer version
#: made in the same second (Key Vault times have one-second resolution): confirm with a GET.
SAME_SECOND_MARGIN = 2.0


@dataclass
class Served:
    """One configured object and the versions its files are made from."""

    spec: ObjectSpec
    materials: list[Material]  # newest first; empty while an optional object is missing
    files: list[FileContent]
    fetched_at: float = field(default_factory=time.time)
    warned: str = ""  # the last warning given about this object, so that it is given once

    @property
    def current(self) -> VersionInfo | None:
        return self.materials[0].info if self.materials else None

    @property
    def version_ids(self) -> list[str]:
        return [m.info.version for m in self.materials]

    def warn_once(self, message: str) -> None:
        if self.warned != message:
            self.warned = message
            log.warning("%s: %s", self.spec.describe(), message, extra={"object": self.spec.name})


@dataclass
class RotationStats:
    """Counters for the observability work: what polling cost and what it found."""

    polls: int = 0
    failed_polls: int = 0
    list_calls: int = 0
    get_calls: int = 0
    changes_applied: int = 0
    swaps: int = 0
    failures: Counter[str] = field(default_factory=Counter)  # by error type
    last_success: float | None = None  # time.monotonic() of the last poll that reached the vault for everything

    def seconds_since_success(self) -> float | None:
        return None if self.last_success is None else time.monotonic() - self.last_success

    def summary(self) -> str:
        failures = ", ".join(f"{k} {v}" for k, v in sorted(self.failures.items())) or "none"
        return (
            f"{self.polls} polls ({self.failed_polls} failed), {self.list_calls} list calls, {self.get_calls} gets, "
            f"{self.changes_applied} changes in {self.swaps} swaps, failures: {failures}"
        )


@dataclass
class _Poll:
    """What one poll found."""

    refetch: dict[int, str] = field(default_factory=dict)  # index → why
    failures: list[BackendError] = field(default_factory=list)
    changed: list[Served] = field(default_factory=list)

    def fail(self, error: BackendError) -> None:
        self.failures.append(error)


Publish = Callable[[ChangeSet], Awaitable[None]]


class Rotator:
    """Polls the vault and publishes each poll's changes as one change set (generation 2, 3, ...;
    the daemon publishes the initial load as generation 1)."""

    def __init__(
        self,
        backend: VaultBackend,
        served: dict[int, Served],
        publish: Publish,
        *,
        interval: float,
        split: bool = False,
        jitter: float = 0.1,
    ) -> None:
        self.backend = backend
        self.served = served
        self.publish = publish
        self.generation = 1
        self.interval = interval
        self.split = split
        self.jitter = jitter
        self.stats = RotationStats(last_success=time.monotonic())
        self._backoff = Backoff(interval)
        self._refresh = trio.Event()
        self._no_listing: set[str] = set()  # kinds polled with one GET per object instead

    def request_refresh(self) -> None:
        """Poll now (SIGHUP)."""
        self._refresh.set()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        delay = self._interval_with_jitter()
        while True:
            with trio.move_on_after(delay):
                await self._refresh.wait()
            self._refresh = trio.Event()
            try:
                poll = await self.poll_once()
            except Exception:  # a bug in one poll must not stop the mount from serving what it has
                log.exception("poll failed unexpectedly; serving the last good content")
                delay = self._backoff.next_delay()
                continue
            if poll.failures:
                retry_after = max((e.retry_after or 0 for e in poll.failures if isinstance(e, Throttled)), default=0)
                delay = self._backoff.next_delay(retry_after)
                log.warning(
                    "poll: %d request(s) failed (first: %s); serving the last good content, retrying in %.1fs",
                    len(poll.failures),
                    poll.failures[0],
                    delay,
                )
            else:
                self._backoff.reset()
                delay = self._interval_with_jitter()

    def current_files(self) -> tuple[FileContent, ...]:
        """Every file of every object, in configuration order."""
        return tuple(f for index in sorted(self.served) for f in self.served[index].files)

    def _interval_with_jitter(self) -> float:
        return self.interval * random.uniform(1 - self.jitter, 1 + self.jitter)

    # -- one poll ------------------------------------------------------------------------------

    async def poll_once(self) -> _Poll:
        """Detect, fetch and apply the changes of one poll; never raises for vault failures."""
        self.stats.polls += 1
        poll = _Poll()
        candidates = [s for s in self.served.values() if not s.spec.version]  # pinned: never fetched again
        listed = await self._list_kinds({s.spec.type for s in candidates if not s.spec.version_history}, poll)

        async with trio.open_nursery() as nursery:
            for served in candidates:
                if served.spec.version_history:
                    nursery.start_soon(self._refresh_history, served, poll)
                elif served.spec.type in listed:
                    self._compare_with_listing(served, listed[served.spec.type], poll)
                elif served.spec.type in self._no_listing:
                    poll.refetch[served.spec.index] = "polled by GET"
            for index in list(poll.refetch):
                nursery.start_soon(self._refetch, self.served[index], poll)

        if poll.changed:
            aliases = [s.spec.alias for s in poll.changed]
            self.generation += 1
            await self.publish(ChangeSet(self.generation, self.current_files(), tuple(aliases)))
            self.stats.changes_applied += len(poll.changed)
            self.stats.swaps += 1
            for served in poll.changed:
                current = served.current
                log.info(
                    "%s: new version %s served as %s",
                    served.spec.describe(),
                    current.version if current else "-",
                    served.spec.alias,
                    extra={"object": served.spec.name, "version": current.version if current else None},
                )
            log.info(
                "applied new versions of %s",
                ", ".join(aliases),
                extra={"generation": self.generation, "changed": len(aliases)},
            )
        if poll.failures:
            self.stats.failed_polls += 1
            for error in poll.failures:
                self.stats.failures[type(error).__name__] += 1
        else:
            self.stats.last_success = time.monotonic()
        return poll

    async def _list_kinds(self, kinds: set[str], poll: _Poll) -> dict[str, dict[str, VersionInfo]]:
        listed: dict[str, dict[str, VersionInfo]] = {}
        for kind in sorted(kinds - self._no_listing):
            try:
                current, calls = await self.backend.list_current(kind, retry=False)
            except AccessDenied:
                self.stats.list_calls += 1
                self._no_listing.add(kind)
                log.warning("listing %ss is forbidden for this identity: polling with one GET per object", kind)
                continue
            except BackendError as exc:
                self.stats.list_calls += 1
                poll.fail(exc)
                continue
            self.stats.list_calls += calls
            listed[kind] = current
            watched = sum(1 for s in self.served.values() if s.spec.type == kind and not s.spec.version_history)
            if calls > watched:
                self._no_listing.add(kind)
                log.info(
                    "listing %ss takes %d calls for %d watched objects: polling them with one GET each instead",
                    kind,
                    calls,
                    watched,
                )
        return listed

    def _compare_with_listing(self, served: Served, listing: dict[str, VersionInfo], poll: _Poll) -> None:
        item = listing.get(served.spec.name.lower())
        current = served.current
        if item is None:
            if current is not None:
                served.warn_once("no longer in the vault (deleted?): serving its last content")
        elif not item.enabled:
            if current is not None:
                served.warn_once("its latest version is disabled: serving the last enabled content")
        elif current is None:
            poll.refetch[served.spec.index] = "appeared"
        elif item.updated != current.updated:
            poll.refetch[served.spec.index] = "updated"
        elif _may_hide_a_newer_version(served):
            poll.refetch[served.spec.index] = "same-second check"

    async def _ask(self, served: Served, poll: _Poll, request: Awaitable[T]) -> T | None:
        """One vault request about an object. Gone or disabled: keep its content and say so once;
        any other failure fails the poll (and is retried with backoff). None when it failed."""
        try:
            return await request
        except (ObjectNotFound, ObjectDisabled) as exc:
            if served.current is not None:
                served.warn_once(f"{exc}: serving its last content")
        except BackendError as exc:
            poll.fail(exc)
        return None

    async def _refetch(self, served: Served, poll: _Poll) -> None:
        self.stats.get_calls += 1
        material = await self._ask(served, poll, self.backend.fetch(served.spec, retry=False))
        if material is None:
            return
        if served.current is not None and material.info.version == served.current.version:
            served.fetched_at = time.time()
            return
        self._replace(served, [material], poll)

    async def _refresh_history(self, served: Served, poll: _Poll) -> None:
        spec = served.spec
        self.stats.list_calls += 1
        versions = await self._ask(served, poll, self.backend.versions(spec, retry=False))
        if versions is None:
            return
        try:
            chosen = select_history(spec, versions)
        except ObjectNotFound as exc:  # the pinned version was disabled or deleted
            served.warn_once(f"{exc}: serving its last content")
            return
        if chosen == served.version_ids:
            return
        held = {m.info.version: m for m in served.materials}
        materials: list[Material] = []
        try:
            for version in chosen:
                if version not in held:
                    self.stats.get_calls += 1
                materials.append(held.get(version) or await self.backend.fetch(spec, version, retry=False))
        except BackendError as exc:
            poll.fail(exc)
            return
        self._replace(served, materials, poll)

    def _replace(self, served: Served, materials: list[Material], poll: _Poll) -> None:
        """Render the new versions; a version that cannot be rendered leaves the old content in place."""
        try:
            files = files_for(served.spec, materials, split=self.split)
        except KvfsError as exc:
            served.warn_once(f"new version {materials[0].info.version} cannot be served ({exc}); keeping the last")
            return
        served.materials = materials
        served.files = files
        served.fetched_at = time.time()
        served.warned = ""
        poll.changed.append(served)


def _may_hide_a_newer_version(served: Served) -> bool:
    updated: datetime | None = served.current.updated if served.current else None
    return updated is not None and abs(served.fetched_at - updated.timestamp()) < SAME_SECOND_MARGIN

"""Keep served content current at a fraction of the provider's vault calls.

Each poll lists every kind in use (one call per 25 objects) and compares each object's latest
``updated`` time with the version being served; only objects that changed are fetched. Pinned
versions are never fetched again. A pattern (``objectNamePattern``) is followed in the same listing:
new matches appear and deleted or disabled ones disappear. A match served lazily is never fetched
here: a new ``updated`` time only gives it a new placeholder, fetched on its next open. All changes
found in one poll are applied in one swap. When
the vault fails, content already served stays as it is and polls back off (exponentially, with
jitter, honouring Retry-After, never longer than one interval) until it answers again.
"""

from __future__ import annotations

import logging
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

import trio

from ..backoff import Backoff
from ..config import ObjectSpec
from ..config.paths import PathClaims
from ..content.files import ChangeSet, FileContent
from ..content.material import Material, VersionInfo
from ..errors import AccessDenied, BackendError, KvfsError, ObjectDisabled, ObjectNotFound, Throttled
from ..vault.backend import VaultBackend
from .loader import Key, Loaded, files_for, lazy_files_for, matches, select_history

log = logging.getLogger(__name__)
T = TypeVar("T")

#: A listed ``updated`` time this close to when the version was fetched may hide a newer version
#: made in the same second (Key Vault times have one-second resolution): confirm with a GET.
SAME_SECOND_MARGIN = 2.0


@dataclass
class Served:
    """One served object and the versions its files are made from. A lazily served match has no
    materials: ``listed`` is the listing entry its placeholder files were made from."""

    spec: ObjectSpec
    materials: list[Material]  # newest first; empty while an optional object is missing
    files: list[FileContent]
    fetched_at: float = field(default_factory=time.time)
    warned: str = ""  # the last warning given about this object, so that it is given once
    listed: VersionInfo | None = None

    @property
    def lazy(self) -> bool:
        return self.listed is not None

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


def served_from(loaded: Loaded) -> dict[Key, Served]:
    """What the initial load serves, as rotation keeps it: every object, each pattern match included."""
    return {
        key: Served(spec, loaded.materials.get(key, []), loaded.files.get(key, []), listed=loaded.listed.get(key))
        for key, spec in loaded.specs.items()
    }


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

    refetch: dict[Key, str] = field(default_factory=dict)  # ObjectSpec.key → why
    failures: list[BackendError] = field(default_factory=list)
    changed: list[Served] = field(default_factory=list)
    removed: list[ObjectSpec] = field(default_factory=list)  # matches gone from the vault

    def fail(self, error: BackendError) -> None:
        self.failures.append(error)


Publish = Callable[[ChangeSet], Awaitable[None]]


class Rotator:
    """Polls the vault and publishes each poll's changes as one change set (generation 2, 3, ...;
    the daemon publishes the initial load as generation 1)."""

    def __init__(
        self,
        backend: VaultBackend,
        served: dict[Key, Served],
        publish: Publish,
        *,
        interval: float,
        split: bool = False,
        jitter: float = 0.1,
        patterns: Sequence[ObjectSpec] = (),
        lazy_patterns: bool = False,
    ) -> None:
        self.backend = backend
        self.served = served
        self.patterns = list(patterns)
        self.lazy_patterns = lazy_patterns
        self.publish = publish
        self.generation = 1
        self.interval = interval
        self.split = split
        self.jitter = jitter
        self.stats = RotationStats(last_success=time.monotonic())
        self._backoff = Backoff(interval)
        self._refresh = trio.Event()
        self._no_listing: set[str] = set()  # kinds polled with one GET per object instead
        self._skipped: set[Key] = set()  # matches not served because another object has their path

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
        return tuple(f for key in sorted(self.served) for f in self.served[key].files)

    def _interval_with_jitter(self) -> float:
        return self.interval * random.uniform(1 - self.jitter, 1 + self.jitter)

    # -- one poll ------------------------------------------------------------------------------

    async def poll_once(self) -> _Poll:
        """Detect, fetch and apply the changes of one poll; never raises for vault failures."""
        self.stats.polls += 1
        poll = _Poll()
        kinds = {s.spec.type for s in self.served.values() if not s.spec.version and not s.spec.version_history}
        listed = await self._list_kinds(kinds | {p.type for p in self.patterns}, poll)
        self._follow_patterns(listed, poll)
        candidates = [s for s in self.served.values() if not s.spec.version]  # pinned: never fetched again

        async with trio.open_nursery() as nursery:
            for served in candidates:
                if served.spec.version_history:
                    nursery.start_soon(self._refresh_history, served, poll)
                elif served.lazy:
                    if served.spec.type in listed:
                        self._compare_lazy(served, listed[served.spec.type], poll)
                elif served.spec.type in listed:
                    self._compare_with_listing(served, listed[served.spec.type], poll)
                elif served.spec.type in self._no_listing:
                    poll.refetch[served.spec.key] = "polled by GET"
            for key in list(poll.refetch):
                nursery.start_soon(self._refetch, self.served[key], poll)

        if poll.changed or poll.removed:
            aliases = [s.spec.alias for s in poll.changed] + [spec.alias for spec in poll.removed]
            self.generation += 1
            await self.publish(ChangeSet(self.generation, self.current_files(), tuple(aliases)))
            self.stats.changes_applied += len(poll.changed)
            self.stats.swaps += 1
            for spec in poll.removed:
                log.info(
                    "%s: no longer in the vault (deleted or disabled): %s removed",
                    spec.describe(),
                    spec.alias,
                    extra={"object": spec.name},
                )
            for served in poll.changed:
                if served.lazy:
                    continue  # nothing was fetched: its placeholder changed, logged when it is opened
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
        followed = {p.type for p in self.patterns}  # a pattern needs the listing, however many calls it takes
        for kind in sorted((kinds - self._no_listing) | followed):
            try:
                current, calls = await self.backend.list_current(kind, retry=False)
            except AccessDenied as exc:
                if kind in followed:
                    self.stats.list_calls += 1
                    poll.fail(exc)
                    continue
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
            if calls > watched and kind not in followed:
                self._no_listing.add(kind)
                log.info(
                    "listing %ss takes %d calls for %d watched objects: polling them with one GET each instead",
                    kind,
                    calls,
                    watched,
                )
        return listed

    def _follow_patterns(self, listed: dict[str, dict[str, VersionInfo]], poll: _Poll) -> None:
        """New matches join (lazily: with placeholder files now; eagerly: fetched in this poll); matches
        that are gone or disabled leave. A kind whose listing failed this poll changes nothing."""
        for pattern in self.patterns:
            if pattern.type not in listed:
                continue
            found = {spec.key: (spec, info) for spec, info in matches(pattern, listed[pattern.type])}
            for key in [k for k, s in self.served.items() if s.spec.index == pattern.index and s.spec.name_pattern]:
                if key not in found:
                    poll.removed.append(self.served.pop(key).spec)
            for key, (spec, info) in found.items():
                if key in self.served or key in self._skipped:
                    continue
                if self._claimed_elsewhere(spec):
                    self._skipped.add(key)
                    continue
                if self.lazy_patterns:
                    served = Served(spec, [], lazy_files_for(spec, info), listed=info)
                    poll.changed.append(served)
                else:
                    served = Served(spec, [], [])
                self.served[key] = served
                log.info("%s: new match in the vault", spec.describe(), extra={"object": spec.name})

    def _claimed_elsewhere(self, spec: ObjectSpec) -> bool:
        """A new match whose file another object serves is skipped (as at start), with a warning."""
        claims: PathClaims[ObjectSpec] = PathClaims()
        for other in self.served.values():
            claims.claim_all([f.path for f in other.files] or list(other.spec.file_names()), other.spec)
        clash = claims.claim_all(list(spec.file_names()), spec)
        if clash is not None:
            log.warning("%s: %s %s; this match is not served", spec.describe(), clash[0], clash[1].describe())
        return clash is not None

    def _compare_lazy(self, served: Served, listing: dict[str, VersionInfo], poll: _Poll) -> None:
        """A lazily served match that changed gets new placeholders (new mtime, new inode): its next
        open fetches the new version. Nothing is fetched now."""
        item = listing.get(served.spec.name.lower())
        if item is None or served.listed is None or item.updated == served.listed.updated:
            return
        served.listed = item
        served.files = lazy_files_for(served.spec, item)
        poll.changed.append(served)

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
            poll.refetch[served.spec.key] = "appeared"
        elif item.updated != current.updated:
            poll.refetch[served.spec.key] = "updated"
        elif _may_hide_a_newer_version(served):
            poll.refetch[served.spec.key] = "same-second check"

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

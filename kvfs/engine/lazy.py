"""Content fetched on first open and kept for a while: the lazy half of pattern and whole-vault mounts.

A lazily served file is listed (name, mtime) but holds no bytes. Its first open fetches the object
(one request however many readers open it at once: they wait for the same fetch) and keeps every
file the object renders to in a ``cachetools.TTLCache``, bounded by entries and by bytes. An open
after the TTL fetches again. An expired copy is kept aside for ``stale_for`` seconds: when the vault
fails, that copy is served (and counted) rather than an error. Versions are part of the cache key (the
listing's ``updated`` time), so a rotated object is never answered from its old version's copy.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import trio
from cachetools import TTLCache

from ..content.files import LazyRef
from ..errors import KvfsError

log = logging.getLogger(__name__)

CacheKey = Any  # LazyRef.key: (ObjectSpec.key, listed updated time in ns)
Files = Mapping[str, bytes]  # every file of one object version, by path
Fetch = Callable[[LazyRef], Awaitable[Files]]


class FetchFailed(KvfsError):
    """An open needed the vault and the vault failed, with no earlier copy to serve."""


@dataclass(frozen=True)
class CacheLimits:
    ttl: float = 300.0  # seconds a fetched copy is served without asking the vault
    max_entries: int = 1000  # objects held
    max_bytes: int = 64 * 1024 * 1024  # their rendered bytes, together
    stale_for: float = 3600.0  # seconds an expired copy is kept for when the vault fails (0: never)


@dataclass
class CacheStats:
    fetches: int = 0  # vault fetches made for opens
    fetch_failures: int = 0
    hits: int = 0  # opens answered from a fresh copy
    waits: int = 0  # opens that waited for a fetch another open started
    stale_served: int = 0  # opens answered from an expired copy because the vault failed
    evicted: int = 0  # copies dropped to stay within the bounds
    expired: int = 0  # copies that reached their TTL


def _size(files: Files) -> int:
    return max(1, sum(len(data) for data in files.values()))


class _Fresh(TTLCache[CacheKey, Files]):
    """A TTLCache that hands what expires to ``on_expire`` and counts what the bounds push out."""

    def __init__(
        self,
        limits: CacheLimits,
        timer: Callable[[], float],
        stats: CacheStats,
        on_expire: Callable[[CacheKey, Files], None],
    ) -> None:
        super().__init__(maxsize=limits.max_bytes, ttl=limits.ttl, timer=timer, getsizeof=_size)
        self.stats = stats
        self.on_expire = on_expire

    def expire(self, time: float | None = None) -> list[tuple[CacheKey, Files]]:
        expired = super().expire(time)
        for key, files in expired:
            self.on_expire(key, files)
        return expired

    def popitem(self) -> tuple[CacheKey, Files]:
        item = super().popitem()
        self.stats.evicted += 1
        return item


@dataclass
class _Flight:
    """One fetch in progress; every open of the same object version waits for it."""

    done: trio.Event = field(default_factory=trio.Event)
    files: Files | None = None
    error: KvfsError | None = None


class LazyContent:
    """Fetch-on-open with single flight, a TTL cache bounded by entries and bytes, and stale-if-error."""

    def __init__(self, fetch: Fetch, limits: CacheLimits | None = None, *, timer: Callable[[], float] = time.monotonic):
        self.limits = limits or CacheLimits()
        self.stats = CacheStats()
        self._fetch = fetch
        self._fresh = _Fresh(self.limits, timer, self.stats, self._keep_stale)
        self._stale: TTLCache[CacheKey, Files] | None = (
            TTLCache(maxsize=self.limits.max_bytes, ttl=self.limits.stale_for, timer=timer, getsizeof=_size)
            if self.limits.stale_for > 0
            else None
        )
        self._flights: dict[CacheKey, _Flight] = {}
        self._sizes: dict[tuple[CacheKey, str], int] = {}  # kept after eviction: a size, once known, stays known

    # -- what the filesystem asks ----------------------------------------------------------------

    def known_size(self, ref: LazyRef) -> int | None:
        """The file's size once any open has fetched it; None before (``stat`` then shows 0)."""
        return self._sizes.get((ref.key, ref.path))

    def cached(self, ref: LazyRef) -> bytes | None:
        """The file's bytes if a fresh copy is held (no waiting, no vault)."""
        files = self._fresh.get(ref.key)
        return None if files is None else files.get(ref.path)

    async def read(self, ref: LazyRef) -> bytes:
        """The file's bytes: from a fresh copy, else from one fetch shared by every concurrent open, else
        (the vault failed) from an expired copy. Raises ``FetchFailed`` when there is nothing to serve."""
        files = self._fresh.get(ref.key)
        if files is not None:
            self.stats.hits += 1
            return self._pick(ref, files)
        self._fresh.expire()  # an expired copy goes aside now, to be served if the fetch fails
        flight = self._flights.get(ref.key)
        if flight is None:
            flight = self._flights[ref.key] = _Flight()
            try:
                await self._fly(ref, flight)
            finally:
                del self._flights[ref.key]
                flight.done.set()
        else:
            self.stats.waits += 1
            await flight.done.wait()
        if flight.files is not None:
            return self._pick(ref, flight.files)
        stale = self._stale.get(ref.key) if self._stale is not None else None
        if stale is not None:
            self.stats.stale_served += 1
            return self._pick(ref, stale)
        raise FetchFailed(f"{ref.spec.describe()}: {flight.error or 'the fetch was cancelled'}")

    async def _fly(self, ref: LazyRef, flight: _Flight) -> None:
        self.stats.fetches += 1
        started = time.monotonic()
        try:
            files = await self._fetch(ref)
        except Exception as exc:
            if not isinstance(exc, KvfsError):  # a bug: it must fail this open, not the whole mount
                log.exception("%s: fetch on open failed unexpectedly", ref.spec.describe())
                exc = KvfsError(f"unexpected {type(exc).__name__}")
            self.stats.fetch_failures += 1
            flight.error = exc
            held = self._stale is not None and ref.key in self._stale
            log.warning(
                "%s: fetch on open failed (%s); %s",
                ref.spec.describe(),
                exc,
                "serving the expired copy" if held else "the open fails with EIO",
                extra={"object": ref.spec.name},
            )
            return
        flight.files = files
        for path, data in files.items():
            self._sizes[(ref.key, path)] = len(data)
        if self._stale is not None:
            self._stale.pop(ref.key, None)
        if _size(files) <= self.limits.max_bytes:
            self._fresh[ref.key] = files
            while len(self._fresh) > self.limits.max_entries:
                self._fresh.popitem()
        self._make_room()
        log.debug(
            "%s: fetched on open",
            ref.spec.describe(),
            extra={"object": ref.spec.name, "duration": round(time.monotonic() - started, 3)},
        )

    @staticmethod
    def _pick(ref: LazyRef, files: Files) -> bytes:
        try:
            return files[ref.path]
        except KeyError:  # the object rendered to other files than its listing promised (e.g. split)
            log.warning("%s: its content has no file %r", ref.spec.describe(), ref.path)
            raise FetchFailed(f"{ref.spec.describe()}: its content has no file {ref.path!r}") from None

    # -- bounds and housekeeping ------------------------------------------------------------------

    def _keep_stale(self, key: CacheKey, files: Files) -> None:
        self.stats.expired += 1
        if self._stale is not None:
            self._stale[key] = files

    def _make_room(self) -> None:
        """Fresh and stale copies share the bounds; stale ones go first."""
        if self._stale is None:
            return
        self._stale.expire()
        while self._stale and (
            self._fresh.currsize + self._stale.currsize > self.limits.max_bytes
            or len(self._fresh) + len(self._stale) > self.limits.max_entries
        ):
            self._stale.popitem()
            self.stats.evicted += 1

    def sweep(self) -> None:
        """Drop what has expired (a copy nobody opens must not stay in memory because nobody asks)."""
        self._fresh.expire()
        self._make_room()

    def retain(self, refs: Iterable[LazyRef]) -> None:
        """Forget copies of versions no longer served (rotated, deleted, no longer matching)."""
        keep = {ref.key for ref in refs}
        self.sweep()
        for cache in (self._fresh, self._stale):
            if cache is None:
                continue
            for key in [k for k in list(cache.keys()) if k not in keep]:
                cache.pop(key, None)
        self._sizes = {k: v for k, v in self._sizes.items() if k[0] in keep}

    @property
    def entries(self) -> int:
        return len(self._fresh)

    @property
    def bytes_held(self) -> int:
        return int(self._fresh.currsize + (self._stale.currsize if self._stale is not None else 0))

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Sweep now and then: expiry otherwise happens only when the cache is used."""
        task_status.started()
        while True:
            await trio.sleep(max(1.0, min(self.limits.ttl, 60.0)))
            self.sweep()

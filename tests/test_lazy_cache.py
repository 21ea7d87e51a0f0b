"""The fetch-on-open cache on its own: single flight, TTL, bounds, stale-if-error, forgetting old versions.

The fetch here is a plain async function that counts calls and can be held or made to fail, and the
clock is a variable: these are the cache's rules, checked without waiting. The same rules through a real
mount and the real SDK are in ``tests/mount/test_lazy.py``.
"""

from __future__ import annotations

import pytest
import trio

from kvfs.config import ObjectSpec
from kvfs.content.files import LazyRef
from kvfs.engine.lazy import CacheLimits, FetchFailed, Files, LazyContent
from kvfs.errors import VaultUnavailable


class Vault:
    """Answers fetches with ``<name>@<version>`` (or fails), counting them; ``gate`` holds them."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.failing = False
        self.gate: trio.Event | None = None
        self.size = 0

    async def fetch(self, ref: LazyRef) -> Files:
        self.calls.append(ref.spec.name)
        if self.gate is not None:
            await self.gate.wait()
        if self.failing:
            raise VaultUnavailable("the vault answered 503")
        body = f"{ref.spec.name}@{ref.updated_ns}".encode()
        return {ref.spec.alias: body + b"." * max(0, self.size - len(body))}


def ref(name: str, version: int = 1) -> LazyRef:
    spec = ObjectSpec(0, "", "secret", "", name_pattern="*").expand(name)
    return LazyRef(spec, version, spec.alias)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def cache(vault: Vault, clock: Clock, **limits: float) -> LazyContent:
    return LazyContent(vault.fetch, CacheLimits(**limits), timer=clock)  # type: ignore[arg-type]


async def test_an_open_fetches_once_and_later_opens_are_answered_from_memory() -> None:
    vault, clock = Vault(), Clock()
    content = cache(vault, clock)
    assert content.known_size(ref("a")) is None
    assert await content.read(ref("a")) == b"a@1"
    assert await content.read(ref("a")) == b"a@1"
    assert vault.calls == ["a"]
    assert content.known_size(ref("a")) == 3
    assert (content.stats.fetches, content.stats.hits) == (1, 1)


async def test_concurrent_opens_of_one_object_share_one_fetch_and_others_proceed() -> None:
    vault, clock = Vault(), Clock()
    content = cache(vault, clock)
    vault.gate = trio.Event()
    results: list[bytes] = []

    async def open_a() -> None:
        results.append(await content.read(ref("a")))

    async with trio.open_nursery() as nursery:
        for _ in range(32):
            nursery.start_soon(open_a)
        await trio.testing.wait_all_tasks_blocked()
        assert vault.calls == ["a"]  # one fetch in flight for 32 opens
        assert content.stats.waits == 31
        # Another object is not held up behind it: its own fetch starts at once.
        other = trio.Event()
        nursery.start_soon(lambda: _read_into(content, ref("b"), other))
        await trio.testing.wait_all_tasks_blocked()
        assert vault.calls == ["a", "b"]
        vault.gate.set()
    assert results == [b"a@1"] * 32
    assert other.is_set()


async def _read_into(content: LazyContent, wanted: LazyRef, done: trio.Event) -> None:
    await content.read(wanted)
    done.set()


async def test_after_the_ttl_the_next_open_fetches_again() -> None:
    vault, clock = Vault(), Clock()
    content = cache(vault, clock, ttl=300)
    await content.read(ref("a"))
    clock.now += 299
    await content.read(ref("a"))
    assert vault.calls == ["a"]
    clock.now += 2
    await content.read(ref("a"))
    assert vault.calls == ["a", "a"]
    assert content.stats.expired == 1


async def test_a_new_version_is_never_answered_from_the_old_copy() -> None:
    vault, clock = Vault(), Clock()
    content = cache(vault, clock)
    assert await content.read(ref("a", 1)) == b"a@1"
    assert await content.read(ref("a", 2)) == b"a@2"
    assert vault.calls == ["a", "a"]


async def test_the_entry_bound_evicts_the_least_recently_used() -> None:
    vault, clock = Vault(), Clock()
    content = cache(vault, clock, max_entries=2)
    for name in ("a", "b", "a", "c"):  # "a" is used again, so "b" is the least recently used
        await content.read(ref(name))
    assert content.entries == 2 and content.stats.evicted == 1
    await content.read(ref("a"))
    assert vault.calls == ["a", "b", "c"]
    await content.read(ref("b"))
    assert vault.calls == ["a", "b", "c", "b"]


async def test_the_byte_bound_evicts_and_an_object_larger_than_it_is_served_but_not_kept() -> None:
    vault, clock = Vault(), Clock()
    vault.size = 400
    content = cache(vault, clock, max_bytes=1000)
    for name in ("a", "b", "c"):
        await content.read(ref(name))
    assert content.entries == 2 and content.bytes_held <= 1000 and content.stats.evicted == 1
    vault.size = 2000
    assert len(await content.read(ref("big"))) == 2000
    assert content.cached(ref("big")) is None and content.bytes_held <= 1000


async def test_a_failed_fetch_serves_the_expired_copy_and_counts_it() -> None:
    vault, clock = Vault(), Clock()
    content = cache(vault, clock, ttl=60, stale_for=3600)
    await content.read(ref("a"))
    clock.now += 61
    vault.failing = True
    assert await content.read(ref("a")) == b"a@1"
    assert (content.stats.stale_served, content.stats.fetch_failures) == (1, 1)
    clock.now += 3600  # past the stale window: nothing left to serve
    with pytest.raises(FetchFailed, match=r'secret "a"|objectNamePattern'):
        await content.read(ref("a"))


async def test_a_failed_first_fetch_fails_every_waiting_open_and_the_next_open_tries_again() -> None:
    vault, clock = Vault(), Clock()
    content = cache(vault, clock)
    vault.failing = True
    vault.gate = trio.Event()
    failures: list[str] = []

    async def open_a() -> None:
        try:
            await content.read(ref("a"))
        except FetchFailed as exc:
            failures.append(str(exc))

    async with trio.open_nursery() as nursery:
        for _ in range(3):
            nursery.start_soon(open_a)
        await trio.testing.wait_all_tasks_blocked()
        vault.gate.set()
    assert len(failures) == 3 and vault.calls == ["a"]
    assert "503" in failures[0] and "\n" not in failures[0]
    vault.failing = False
    assert await content.read(ref("a")) == b"a@1"


async def test_stale_copies_are_off_with_stale_for_0() -> None:
    vault, clock = Vault(), Clock()
    content = cache(vault, clock, ttl=60, stale_for=0)
    await content.read(ref("a"))
    clock.now += 61
    vault.failing = True
    with pytest.raises(FetchFailed):
        await content.read(ref("a"))


async def test_retain_forgets_versions_no_longer_served_and_sweep_drops_the_expired() -> None:
    vault, clock = Vault(), Clock()
    content = cache(vault, clock, ttl=60, stale_for=0)
    await content.read(ref("a", 1))
    await content.read(ref("b", 1))
    content.retain([ref("b", 1)])
    assert content.cached(ref("a", 1)) is None and content.known_size(ref("a", 1)) is None
    assert content.cached(ref("b", 1)) == b"b@1"
    clock.now += 61
    content.sweep()
    assert content.entries == 0 and content.bytes_held == 0

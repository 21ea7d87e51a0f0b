"""The rotation engine against the fake vault through the real SDK, without a mount."""

from __future__ import annotations

import time

import pytest
from azure.identity import WorkloadIdentityCredential

from kvfs.backoff import Backoff
from kvfs.config import ObjectSpec
from kvfs.content.files import ChangeSet
from kvfs.engine.loader import load_all
from kvfs.engine.rotation import Rotator, served_from
from kvfs.fakevault import FakeVault
from kvfs.vault.backend import BackendSettings, VaultBackend


class Recorder:
    """The publish callback: records each change set's files and changed aliases."""

    def __init__(self) -> None:
        self.swaps: list[tuple[dict[str, bytes], list[str]]] = []
        self.generations: list[int] = []

    async def __call__(self, change: ChangeSet) -> None:
        self.swaps.append(({f.path: f.data for f in change.files}, list(change.changed)))
        self.generations.append(change.generation)


async def make_rotator(vault: FakeVault, credential: WorkloadIdentityCredential, specs: list[ObjectSpec]):
    backend = VaultBackend(
        BackendSettings(vault_url=vault.vault_url, emulator=True, ca_file=str(vault.ca_file), retry_total=0),
        credential,
    )
    loaded = await load_all(backend, specs)
    served = served_from(loaded)
    for entry in served.values():
        entry.fetched_at = 0.0  # long ago: no same-second checks
    recorder = Recorder()
    return Rotator(backend, served, recorder, interval=60), recorder


def secrets(*names: str, **fields: object) -> list[ObjectSpec]:
    return [ObjectSpec(i, n, "secret", n, **fields) for i, n in enumerate(names)]


def gets_and_lists(vault: FakeVault) -> tuple[int, int]:
    paths = [r["path"] for r in vault.requests() if r["method"] == "GET" and r["status"] == 200]
    lists = sum(1 for p in paths if p.startswith("/secrets?") or "$skiptoken" in p)
    return len(paths) - lists, lists


async def test_an_idle_poll_lists_once_and_fetches_nothing(vault: FakeVault, credential) -> None:
    for name in ("a", "b", "c"):
        vault.set_secret(name, name)
    rotator, recorder = await make_rotator(vault, credential, secrets("a", "b", "c"))
    vault.clear_requests()
    await rotator.poll_once()
    assert gets_and_lists(vault) == (0, 1)
    assert recorder.swaps == []
    assert rotator.stats.list_calls == 1
    assert rotator.stats.get_calls == 0


async def test_changes_are_fetched_alone_and_applied_in_one_swap(vault: FakeVault, credential) -> None:
    vault.set_clock(lambda: time.time() - 100)  # the served versions are old: no same-second checks
    for name in ("a", "b", "c"):
        vault.set_secret(name, f"{name}1")
    rotator, recorder = await make_rotator(vault, credential, secrets("a", "b", "c"))
    vault.set_clock(time.time)
    vault.set_secret("a", "a2")
    vault.set_secret("c", "c2")
    vault.clear_requests()
    await rotator.poll_once()
    assert gets_and_lists(vault) == (2, 1)
    assert len(recorder.swaps) == 1
    files, aliases = recorder.swaps[0]
    assert sorted(aliases) == ["a", "c"]
    assert files == {"a": b"a2", "b": b"b1", "c": b"c2"}


async def test_pinned_versions_are_never_fetched_again(vault: FakeVault, credential) -> None:
    first = vault.set_secret("p", "one")
    rotator, _ = await make_rotator(vault, credential, secrets("p", version=first))
    vault.set_secret("p", "two")
    vault.clear_requests()
    await rotator.poll_once()
    assert vault.requests() == []


async def test_failures_keep_content_and_are_counted(vault: FakeVault, credential) -> None:
    vault.set_secret("a", "kept")
    rotator, recorder = await make_rotator(vault, credential, secrets("a"))
    vault.add_fault(status=503, path=r"^/secrets")
    poll = await rotator.poll_once()
    assert poll.failures
    assert recorder.swaps == []
    assert rotator.served[(0, "")].files[0].data == b"kept"
    assert rotator.stats.failed_polls == 1
    assert rotator.stats.failures["VaultUnavailable"] == 1


async def test_forbidden_listing_falls_back_to_gets(vault: FakeVault, credential, caplog) -> None:
    vault.set_secret("a", "v1")
    rotator, recorder = await make_rotator(vault, credential, secrets("a"))
    vault.add_fault(status=403, path=r"^/secrets\?")
    await rotator.poll_once()
    await rotator.poll_once()
    vault.set_secret("a", "v2")
    await rotator.poll_once()
    assert recorder.swaps[-1][0] == {"a": b"v2"}
    said = [r.message for r in caplog.records if "forbidden" in r.message]
    assert len(said) == 1


@pytest.mark.parametrize("failures", [1, 3, 10])
def test_backoff_grows_stays_under_the_interval_and_honours_retry_after(failures: int) -> None:
    backoff = Backoff(ceiling=8.0, base=1.0)
    delays = [backoff.next_delay() for _ in range(failures)]
    assert all(0 < d <= 8.0 for d in delays)
    assert delays[-1] >= min(8.0, 2 ** (failures - 1)) / 2
    assert backoff.next_delay(retry_after=30) == 30
    backoff.reset()
    assert backoff.next_delay() <= 1.0

"""Patterns and whole vaults on a real mount: listed at start, fetched on first open, kept in a TTL cache.

Every count here is read from the fake vault's request log: what the issue promises is a number of
requests (list calls only at start, one GET for the first ``cat``, one GET for 32 concurrent opens).
"""

from __future__ import annotations

import errno
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kvfs.fakevault import FakeVault
from tests.helpers import KvfsProcess, wait_for
from tests.mount.conftest import MountFactory, kvfs_env
from tests.mount.test_observe import endpoint, value
from tests.pki import make_chain

WholeVaultFactory = Callable[..., KvfsProcess]


@pytest.fixture
def mount_vault(vault: FakeVault, mountpoint: Path) -> Iterator[WholeVaultFactory]:
    """``kvfs mount --vault <fake vault URL> MOUNTPOINT`` with the default identity chain (no class)."""
    started: list[KvfsProcess] = []

    def start(*args: str) -> KvfsProcess:
        process = KvfsProcess(
            ["mount", "--vault", vault.vault_url, str(mountpoint), "--ca-file", str(vault.ca_file), *args],
            kvfs_env(vault),
            mountpoint,
        )
        started.append(process)
        process.wait_ready()
        return process

    yield start
    for process in started:
        if process.process.poll() is None:
            process.stop()


def requests_of(vault: FakeVault, *, kind: str = "") -> tuple[int, int]:
    """(list calls, object GETs) answered 200 since the log was cleared."""
    entries = [e for e in vault.requests() if e["method"] == "GET" and e["status"] == 200]
    lists = [e for e in entries if "?" in e["path"].split("/")[1] or "$skiptoken" in e["path"]]
    gets = [e for e in entries if e not in lists and e["path"].startswith(f"/{kind}")]
    return len(lists), len(gets)


def gets_of(vault: FakeVault, collection: str, name: str) -> int:
    prefix = f"/{collection}/{name}/"
    return sum(1 for e in vault.requests() if e["method"] == "GET" and e["path"].startswith(prefix))


# -- the whole vault ---------------------------------------------------------------------------------


def test_a_whole_vault_of_1000_secrets_starts_with_list_calls_and_the_first_cat_costs_one_get(
    vault: FakeVault, mount_vault: WholeVaultFactory, mountpoint: Path
) -> None:
    for i in range(1000):
        vault.set_secret(f"s-{i:04d}", f"value {i}")
    vault.create_key("signing")
    vault.import_certificate("web", make_chain().pem(), content_type="application/x-pem-file")
    vault.clear_requests()
    mount_vault()
    # 1,000 secrets plus the certificate's own secret: 41 pages of 25; one page each of keys and certificates.
    assert requests_of(vault) == (41 + 1 + 1, 0)
    assert sorted(os.listdir(mountpoint)) == ["certificates", "keys", "secrets"]
    assert len(os.listdir(mountpoint / "secrets")) == 1001
    # As ``az keyvault secret list`` and ``key list`` show them: a certificate's secret and key are listed too.
    assert sorted(os.listdir(mountpoint / "keys")) == ["signing.pem", "web.pem"]
    assert os.listdir(mountpoint / "certificates") == ["web.pem"]
    path = mountpoint / "secrets" / "s-0042"
    assert path.stat().st_size == 0  # not fetched yet: the size is unknown, so 0 (README)
    vault.clear_requests()
    assert path.read_text() == "value 42"
    assert requests_of(vault) == (0, 1)
    assert path.stat().st_size == len("value 42")  # right after the first fetch
    assert path.read_text() == "value 42"
    assert requests_of(vault) == (0, 1)  # the second cat is answered from memory
    assert (mountpoint / "keys" / "signing.pem").read_text().startswith("-----BEGIN PUBLIC KEY-----")
    assert (mountpoint / "certificates" / "web.pem").read_text().startswith("-----BEGIN CERTIFICATE-----")


def test_include_and_exclude_narrow_the_vault_and_the_mount_is_read_only(
    vault: FakeVault, mount_vault: WholeVaultFactory, mountpoint: Path
) -> None:
    for name in ("db-main", "db-old", "api-key", "web"):
        vault.set_secret(name, name)
    mount_vault("--include", "db-*", "--include", "api-*", "--exclude", "*-old")
    assert sorted(os.listdir(mountpoint / "secrets")) == ["api-key", "db-main"]
    with pytest.raises(OSError) as refused:
        (mountpoint / "secrets" / "db-main").write_text("x")
    assert refused.value.errno == errno.EROFS


def test_a_kind_the_identity_may_not_list_is_left_out_of_the_whole_vault(
    vault: FakeVault, mount_vault: WholeVaultFactory, mountpoint: Path
) -> None:
    vault.set_secret("db", "readable")
    vault.create_key("signing")
    vault.add_fault(status=403, path=r"^/keys\?")  # e.g. the role "Key Vault Secrets User"
    kvfs = mount_vault("--rotation-poll-interval", "1h")
    assert sorted(os.listdir(mountpoint)) == ["secrets"]
    assert (mountpoint / "secrets" / "db").read_text() == "readable"
    kvfs.wait_for_log("no key is served (restart kvfs once the identity may list them)")
    vault.clear_requests()
    kvfs.process.send_signal(signal.SIGHUP)
    wait_for(lambda: any(e["path"].startswith("/secrets?") for e in vault.requests()), what="a poll")
    assert not any(e["path"].startswith("/keys") for e in vault.requests())  # not asked again, not a failure
    assert "poll:" not in kvfs.stderr


def test_32_concurrent_first_opens_cost_one_get_and_other_files_are_not_held_up(
    vault: FakeVault, mount_vault: WholeVaultFactory, mountpoint: Path
) -> None:
    vault.set_secret("slow", "the slow one")
    vault.set_secret("quick", "the quick one")
    mount_vault()
    assert (mountpoint / "secrets" / "quick").read_text() == "the quick one"
    vault.add_fault(latency_ms=1500, path=r"^/secrets/slow/")
    vault.clear_requests()
    barrier = threading.Barrier(32)
    results: list[str] = []

    def first_open() -> None:
        barrier.wait()
        results.append((mountpoint / "secrets" / "slow").read_text())

    threads = [threading.Thread(target=first_open) for _ in range(32)]
    for thread in threads:
        thread.start()
    wait_for(lambda: barrier.n_waiting == 0, what="the 32 readers to start")
    # While the fetch is in flight: lookups, a listing and a cached file's reads are answered.
    assert (mountpoint / "secrets" / "quick").read_text() == "the quick one"
    assert sorted(os.listdir(mountpoint / "secrets")) == ["quick", "slow"]
    assert any(thread.is_alive() for thread in threads), "the slow fetch ended before the other requests"
    for thread in threads:
        thread.join(timeout=30)
    assert results == ["the slow one"] * 32
    assert gets_of(vault, "secrets", "slow") == 1


def test_after_the_ttl_an_open_fetches_again(
    vault: FakeVault, mount_vault: WholeVaultFactory, mountpoint: Path
) -> None:
    vault.set_secret("db", "v1")
    mount_vault("--cache-ttl", "1s")
    path = mountpoint / "secrets" / "db"
    vault.clear_requests()
    assert path.read_text() == "v1"
    wait_for(lambda: path.read_text() == "v1" and gets_of(vault, "secrets", "db") == 2, what="a second GET after 1s")


def test_the_cache_size_bound_evicts_the_least_recently_opened(
    vault: FakeVault, mount_vault: WholeVaultFactory, mountpoint: Path
) -> None:
    for name in ("a", "b", "c"):
        vault.set_secret(name, name)
    kvfs = mount_vault("--cache-size", "2", "--metrics-addr", "127.0.0.1:0")
    vault.clear_requests()
    for name in ("a", "b", "c", "c", "b"):
        assert (mountpoint / "secrets" / name).read_text() == name
    assert [gets_of(vault, "secrets", n) for n in ("a", "b", "c")] == [1, 1, 1]
    assert (mountpoint / "secrets" / "a").read_text() == "a"  # evicted by c: fetched again
    assert gets_of(vault, "secrets", "a") == 2
    base = endpoint(kvfs)
    assert value(base, "kvfs_cache_evictions_total") == 2
    assert value(base, "kvfs_cache_entries") == 2
    assert value(base, "kvfs_lazy_opens_total", answer="cached") >= 2


def test_a_failing_vault_serves_the_expired_copy_or_answers_eio_with_one_line(
    vault: FakeVault, mount_vault: WholeVaultFactory, mountpoint: Path
) -> None:
    vault.set_secret("kept", "old but good")
    vault.set_secret("never-opened", "unseen")
    kvfs = mount_vault("--cache-ttl", "1s", "--metrics-addr", "127.0.0.1:0")
    kept = mountpoint / "secrets" / "kept"
    assert kept.read_text() == "old but good"
    vault.add_fault(status=503, path=r"^/secrets/")
    vault.clear_requests()
    # Once the TTL has passed, the open asks the vault (503) and is answered from the expired copy.
    wait_for(lambda: kept.read_text() == "old but good" and gets_of(vault, "secrets", "kept") >= 1, what="a refetch")
    kvfs.wait_for_log('secret "kept": fetch on open failed')
    assert "serving the expired copy" in kvfs.stderr
    assert value(endpoint(kvfs), "kvfs_lazy_opens_total", answer="stale_after_error") >= 1

    with pytest.raises(OSError) as failed:
        (mountpoint / "secrets" / "never-opened").read_text()
    assert failed.value.errno == errno.EIO
    kvfs.wait_for_log('secret "never-opened"')  # written before the answer; our reader of its stderr may lag
    lines = [line for line in kvfs.stderr.splitlines() if 'secret "never-opened"' in line]
    assert len(lines) == 1 and "the open fails with EIO" in lines[0] and "503" in lines[0]
    assert "unseen" not in kvfs.stderr and "old but good" not in kvfs.stderr
    vault.clear_faults()
    assert (mountpoint / "secrets" / "never-opened").read_text() == "unseen"  # the next open tries again


# -- patterns in a class -------------------------------------------------------------------------------


def test_matches_appear_and_disappear_in_one_poll_and_ls_sees_it(
    vault: FakeVault, start_kvfs: MountFactory, mountpoint: Path, tmp_path: Path
) -> None:
    vault.set_secret("db-a", "a")
    vault.set_secret("db-b", "b")
    told = tmp_path / "changed"
    kvfs = start_kvfs(
        [{"objectNamePattern": "db-*", "objectType": "secret"}],
        "--rotation-poll-interval", "1h", "--on-change-exec", f'echo "$KVFS_CHANGED" > {told}',
    )  # fmt: skip
    assert sorted(os.listdir(mountpoint)) == ["db-a", "db-b"]
    assert (mountpoint / "db-a").stat().st_mode  # the kernel now caches this entry (for 300 s)
    vault.set_secret("db-c", "c")
    vault.delete("secrets", "db-a")
    vault.clear_requests()
    kvfs.process.send_signal(signal.SIGHUP)
    kvfs.wait_for_log("no longer in the vault")
    assert sorted(os.listdir(mountpoint)) == ["db-b", "db-c"]
    assert not (mountpoint / "db-a").exists()  # the cached entry was invalidated
    assert (mountpoint / "db-c").read_text() == "c"
    assert requests_of(vault) == (1, 1)  # one poll's listing, then the open's GET
    wait_for(lambda: told.exists() and told.read_text().endswith("\n"), what="the change hook")
    assert sorted(told.read_text().split()) == ["db-a", "db-c"]  # the hook hears of both


def test_a_class_mixes_eager_named_objects_and_lazy_matches(
    vault: FakeVault, start_kvfs: MountFactory, mountpoint: Path
) -> None:
    vault.set_secret("named", "loaded at start")
    for i in range(3):
        vault.set_secret(f"db-{i}", f"db {i}")
    vault.clear_requests()
    start_kvfs(
        [
            {"objectName": "named", "objectType": "secret", "objectAlias": "app/named"},
            {"objectNamePattern": "db-*", "objectType": "secret", "filePermission": "0600"},
        ]
    )
    assert requests_of(vault, kind="secrets") == (1, 1)  # the named object fetched, the matches only listed
    assert (mountpoint / "app" / "named").stat().st_size == len("loaded at start")
    assert (mountpoint / "db-1").stat().st_size == 0
    assert oct((mountpoint / "db-1").stat().st_mode & 0o777) == "0o600"
    vault.clear_requests()
    assert (mountpoint / "app" / "named").read_text() == "loaded at start"
    assert requests_of(vault) == (0, 0)
    assert (mountpoint / "db-1").read_text() == "db 1"
    assert requests_of(vault) == (0, 1)
    # A reader that saw size 0 and then reads a fixed amount still gets everything.
    assert (mountpoint / "db-2").stat().st_size == 0
    fd = os.open(mountpoint / "db-2", os.O_RDONLY)
    try:
        assert os.read(fd, 4096) == b"db 2"
    finally:
        os.close(fd)


def test_a_new_version_of_a_match_is_fetched_at_its_next_open(
    vault: FakeVault, start_kvfs: MountFactory, mountpoint: Path
) -> None:
    vault.set_secret("db-a", "v1")
    kvfs = start_kvfs([{"objectNamePattern": "db-*", "objectType": "secret"}], "--rotation-poll-interval", "1h")
    path = mountpoint / "db-a"
    assert path.read_text() == "v1"
    before = path.stat()
    wait_for(lambda: time.time() >= before.st_mtime + 1, timeout=3, what="the next second (Key Vault's resolution)")
    vault.set_secret("db-a", "version two")
    vault.clear_requests()
    kvfs.process.send_signal(signal.SIGHUP)
    kvfs.wait_for_log("applied new versions of db-a")
    assert requests_of(vault) == (1, 0)  # the poll lists; it fetches nothing
    after = path.stat()
    assert after.st_ino != before.st_ino and after.st_mtime > before.st_mtime and after.st_size == 0
    assert path.read_text() == "version two"
    assert requests_of(vault) == (1, 1)


def test_a_pattern_matching_nothing_mounts_and_says_so(
    vault: FakeVault, start_kvfs: MountFactory, mountpoint: Path
) -> None:
    vault.set_secret("other", "x")
    kvfs = start_kvfs(
        [{"objectName": "other", "objectType": "secret"}, {"objectNamePattern": "db-*", "objectType": "secret"}]
    )
    assert os.listdir(mountpoint) == ["other"]
    kvfs.wait_for_log('objects[1] (objectNamePattern "db-*"): no secret matches (yet)')

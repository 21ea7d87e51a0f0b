"""Whole vaults fetched on first open, against loading every object at start, in one run.

- mount-ready for vaults of 1,000 and 10,000 secrets: ``kvfs mount --vault`` (list calls only) against a
  class naming every secret (one GET each), with the vault requests each made and the daemon's memory;
- first-open latency with the vault answering every request in 50 ms, against a warm open;
- warm reads of a fetched file against the same bytes on tmpfs, and of an eagerly loaded file, in one run.

Run: make bench   (or: .venv/bin/python -m tests.bench lazy)
"""

from __future__ import annotations

import time

from kvfs.fakevault import FakeVault
from tests.bench.bench_read import ITERATIONS, WARMUP, timings
from tests.bench.common import kvfs_mount, kvfs_vault_mount, print_table, read_baseline, summary, vm_rss_kib

LATENCY_MS = 50
FIRST_OPENS = 40


def fill(vault: FakeVault, count: int) -> None:
    for i in range(count):
        vault.set_secret(f"s-{i:05d}", f"value of secret {i:05d} " + "x" * 40)


def ready_rows() -> list[list[object]]:
    rows: list[list[object]] = []
    for count in (1_000, 10_000):
        with FakeVault() as vault:
            fill(vault, count)
            vault.clear_requests()
            with kvfs_vault_mount(vault) as lazy:
                lazy_rss = vm_rss_kib(lazy.process.pid) / 1024
                assert len(list((lazy.mountpoint / "secrets").iterdir())) == count
            lazy_requests = len(vault.requests())
            vault.clear_requests()
            objects: list[dict[str, object]] = [
                {"objectName": f"s-{i:05d}", "objectType": "secret"} for i in range(count)
            ]
            with kvfs_mount(vault, objects) as eager:
                eager_rss = vm_rss_kib(eager.process.pid) / 1024
            eager_requests = len(vault.requests())
        rows.append([f"{count:,} secrets, --vault (lazy)", f"{lazy.ready_after:.2f}", lazy_requests,
                     f"{lazy_rss:.1f}", f"{eager.ready_after / lazy.ready_after:.1f}x"])  # fmt: skip
        rows.append([f"{count:,} secrets, class naming each (eager)", f"{eager.ready_after:.2f}", eager_requests,
                     f"{eager_rss:.1f}", "1.0x"])  # fmt: skip
    return rows


def first_open_rows() -> list[list[object]]:
    with FakeVault() as vault:
        fill(vault, FIRST_OPENS)
        vault.add_fault(latency_ms=LATENCY_MS, path=r"^/(secrets|keys|certificates)")
        with kvfs_vault_mount(vault) as mount:
            first, warm = [], []
            for i in range(FIRST_OPENS):
                path = mount.mountpoint / "secrets" / f"s-{i:05d}"
                started = time.perf_counter()
                path.read_bytes()
                first.append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                path.read_bytes()
                warm.append((time.perf_counter() - started) * 1000)
    (first_median, first_p99), (warm_median, warm_p99) = summary(first), summary(warm)
    return [
        [f"first open (one GET at {LATENCY_MS} ms)", f"{first_median:.1f}", f"{first_p99:.1f}",
         f"{first_median - LATENCY_MS:+.1f}"],
        ["second open (from the cache)", f"{warm_median:.2f}", f"{warm_p99:.2f}", "-"],
    ]  # fmt: skip


def warm_read_rows() -> list[list[object]]:
    value = "x" * 100
    with read_baseline(value) as (readloop, tmpfs_file), FakeVault() as vault:
        vault.set_secret("bench", value)
        results = {}
        with kvfs_vault_mount(vault) as lazy:
            lazy_file = lazy.mountpoint / "secrets" / "bench"
            assert lazy_file.read_text() == value
            with kvfs_mount(vault, [{"objectName": "bench", "objectType": "secret"}]) as eager:
                eager_file = eager.mountpoint / "bench"
                targets = {"tmpfs (/dev/shm)": tmpfs_file, "eager (class)": eager_file, "lazy (--vault)": lazy_file}
                for path in targets.values():
                    timings(readloop, path, WARMUP)
                for name, path in targets.items():
                    results[name] = summary(timings(readloop, path, ITERATIONS))
    base_median, base_p99 = results["tmpfs (/dev/shm)"]
    return [
        [name, f"{median:.1f}", f"{p99:.1f}", f"{median / base_median:.1f}x", f"{p99 / base_p99:.1f}x"]
        for name, (median, p99) in results.items()
    ]


def run() -> None:
    print_table(
        "Mount-ready: a whole vault listed (names only) against every secret fetched at start",
        ["case", "s to ready", "vault requests", "RSS MiB", "lazy faster by"],
        ready_rows(),
    )
    print_table(
        f"Open + read of a whole-vault file, vault answering in {LATENCY_MS} ms ({FIRST_OPENS} files)",
        ["open", "median ms", "p99 ms", "over the vault's latency (ms)"],
        first_open_rows(),
    )
    print_table(
        f"Warm read: open + read + close of a 100-byte file, {ITERATIONS} iterations (C client)",
        ["target", "median µs", "p99 µs", "median ratio", "p99 ratio"],
        warm_read_rows(),
    )


if __name__ == "__main__":
    run()

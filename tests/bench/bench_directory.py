"""The writer mode next to the FUSE mount: warm reads against plain tmpfs (same run), and the time from a
new version in the vault to new content with a 2 s interval, so users can choose with numbers.

Run: make bench   (or: .venv/bin/python -m tests.bench directory)
"""

from __future__ import annotations

import os
import random
import statistics
import tempfile
import time
from pathlib import Path

from kvfs.fakevault import FakeVault
from tests.bench.bench_read import timings
from tests.bench.common import compile_readloop, kvfs_mount, print_table, summary
from tests.helpers import KvfsProcess, provider_class_yaml, wait_for

ITERATIONS = 20_000
WARMUP = 2_000
INTERVAL = 2.0
TRIALS = 10
VALUE = "x" * 100


def sync_dir(vault: FakeVault, tmp: Path, target: Path, interval: str) -> KvfsProcess:
    spc = tmp / "spc.yaml"
    objects: list[dict[str, object]] = [{"objectName": "bench", "objectType": "secret"}]
    spc.write_text(provider_class_yaml(objects, tenant_id=vault.tenant_id, client_id=vault.client_id))
    env = {**os.environ, **vault.workload_identity_env()}
    args = ["sync-dir", str(spc), str(target), "--vault-url", vault.vault_url, "--ca-file", str(vault.ca_file),
            "--rotation-poll-interval", interval]  # fmt: skip
    process = KvfsProcess(args, env)
    process.wait_for_log("ready:", timeout=60)
    return process


def reads() -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory(prefix="kvfs-bench-", dir="/dev/shm") as shm, FakeVault() as vault:
        shm_path = Path(shm)
        readloop = compile_readloop(shm_path)
        plain = shm_path / "plain"
        plain.write_text(VALUE)
        # The same file behind the kubelet's two symlinks (name -> ..data/name, ..data -> folder), made by hand:
        # what any ConfigMap or Secret volume costs a reader.
        layout = shm_path / "layout"
        (layout / "..2026_01_01_00_00_00.1").mkdir(parents=True)
        (layout / "..2026_01_01_00_00_00.1" / "bench").write_text(VALUE)
        os.symlink("..2026_01_01_00_00_00.1", layout / "..data")
        os.symlink("..data/bench", layout / "bench")
        vault.set_secret("bench", VALUE)
        writer = sync_dir(vault, shm_path, shm_path / "kv", "1h")
        try:
            in_dir = shm_path / "kv" / "bench"
            assert in_dir.read_text() == VALUE
            with kvfs_mount(vault, [{"objectName": "bench", "objectType": "secret"}]) as mount:
                in_mount = mount.mountpoint / "bench"
                targets = {"tmpfs": plain, "layout": layout / "bench", "sync-dir": in_dir, "mount": in_mount}
                for path in targets.values():
                    timings(readloop, path, WARMUP)
                # Interleaved in one run, so machine load hits them all alike.
                results: dict[str, list[float]] = {name: [] for name in targets}
                for _ in range(4):
                    for name, path in targets.items():
                        results[name] += timings(readloop, path, ITERATIONS // 4)
        finally:
            writer.stop()
    return results


def rotation_latency(mode: str) -> list[float]:
    latencies = []
    with tempfile.TemporaryDirectory(prefix="kvfs-bench-", dir="/dev/shm") as shm, FakeVault() as vault:
        vault.set_secret("bench", "value-0")
        if mode == "sync-dir":
            process = sync_dir(vault, Path(shm), Path(shm) / "kv", f"{INTERVAL:g}s")
            path, context = Path(shm) / "kv" / "bench", None
        else:
            objects: list[dict[str, object]] = [{"objectName": "bench", "objectType": "secret"}]
            context = kvfs_mount(vault, objects, "--rotation-poll-interval", f"{INTERVAL:g}s")
            mounted = context.__enter__()
            path, process = mounted.mountpoint / "bench", None
        try:
            for trial in range(1, TRIALS + 1):
                time.sleep(random.uniform(0, INTERVAL))  # a random point of the poll cycle
                value = f"value-{trial}"
                started = time.monotonic()
                vault.set_secret("bench", value)
                wait_for(lambda v=value: path.read_text() == v, timeout=3 * INTERVAL + 5, interval=0.005, what=value)
                latencies.append(time.monotonic() - started)
        finally:
            if process is not None:
                process.stop()
            if context is not None:
                context.__exit__(None, None, None)
    return latencies


def run() -> None:
    results = reads()
    tmpfs_median, tmpfs_p99 = summary(results["tmpfs"])
    rows = []
    for name, label in (("tmpfs", "plain tmpfs file"), ("layout", "tmpfs file behind the kubelet's symlinks"),
                        ("sync-dir", "kvfs sync-dir (tmpfs, via ..data)"), ("mount", "kvfs mount (FUSE)")):  # fmt: skip
        median, p99 = summary(results[name])
        rows.append([label, f"{median:.1f}", f"{p99:.1f}", f"{median / tmpfs_median:.2f}x", f"{p99 / tmpfs_p99:.2f}x"])
    print_table(
        f"Warm read: open + read + close of a 100-byte file, {ITERATIONS} iterations each, interleaved (C client)",
        ["target", "median µs", "p99 µs", "median ratio", "p99 ratio"],
        rows,
    )
    ratio = summary(results["sync-dir"])[0] / tmpfs_median
    layout_ratio = summary(results["sync-dir"])[0] / summary(results["layout"])[0]
    print(
        f"Goal: sync-dir within 1.1x of plain tmpfs -> {'met' if ratio <= 1.1 else 'NOT met'} ({ratio:.2f}x); "
        f"against the same layout made by hand: {layout_ratio:.2f}x (the two symlink hops are the layout's own cost)"
    )

    rows = []
    for mode in ("sync-dir", "mount"):
        latencies = rotation_latency(mode)
        p90 = statistics.quantiles(latencies, n=10, method="inclusive")[-1]
        rows.append([mode, f"{statistics.mean(latencies):.2f}", f"{statistics.median(latencies):.2f}", f"{p90:.2f}",
                     f"{max(latencies):.2f}"])  # fmt: skip
    print_table(
        f"New version in the vault to new content, --rotation-poll-interval {INTERVAL:g}s, {TRIALS} trials at random "
        "points of the poll cycle (file read every 5 ms)",
        ["mode", "mean s", "median s", "p90 s", "max s"],
        rows,
    )


if __name__ == "__main__":
    run()

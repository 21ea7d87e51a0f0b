"""Warm read of a 100-byte secret through kvfs, against the same bytes on tmpfs, in one run.

Run: make bench   (or: .venv/bin/python -m tests.bench read)
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from kvfs.fakevault import FakeVault
from tests.bench.common import kvfs_mount, print_table, read_baseline, summary

ITERATIONS = 20_000
WARMUP = 2_000


def timings(readloop: Path, path: Path, iterations: int) -> list[float]:
    out = subprocess.run([str(readloop), str(path), str(iterations)], capture_output=True, text=True, check=True)
    return [int(line) / 1000 for line in out.stdout.split()]  # microseconds


def run() -> None:
    value = "x" * 100
    with read_baseline(value) as (readloop, tmpfs_file), FakeVault() as vault:
        vault.set_secret("bench", value)
        with kvfs_mount(vault, [{"objectName": "bench", "objectType": "secret"}]) as mount:
            fuse_file = mount.mountpoint / "bench"
            assert fuse_file.read_text() == value
            timings(readloop, fuse_file, WARMUP)
            timings(readloop, tmpfs_file, WARMUP)
            fuse = timings(readloop, fuse_file, ITERATIONS)
            tmpfs = timings(readloop, tmpfs_file, ITERATIONS)
        reads = WARMUP + ITERATIONS + 1
        per_read = {op: count / reads for op, count in mount.requests.items() if count}
    fuse_median, fuse_p99 = summary(fuse)
    tmpfs_median, tmpfs_p99 = summary(tmpfs)
    print_table(
        f"Warm read: open + read + close of a 100-byte file, {ITERATIONS} iterations (C client)",
        ["target", "median µs", "p99 µs", "median ratio", "p99 ratio"],
        [
            ["tmpfs (/dev/shm)", f"{tmpfs_median:.1f}", f"{tmpfs_p99:.1f}", "1.0x", "1.0x"],
            ["kvfs", f"{fuse_median:.1f}", f"{fuse_p99:.1f}", f"{fuse_median / tmpfs_median:.1f}x",
             f"{fuse_p99 / tmpfs_p99:.1f}x"],
        ],
    )  # fmt: skip
    print("FUSE requests per warm read: " + ", ".join(f"{op} {n:.2f}" for op, n in sorted(per_read.items())))
    print(f"Goal: median within 55x tmpfs -> {'met' if fuse_median / tmpfs_median <= 55 else 'NOT met'}")


if __name__ == "__main__":
    run()

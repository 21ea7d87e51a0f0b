"""What the audit log costs a warm read: the same file through kvfs without it, with it (default 10 s
windows: a reader that opens again and again is one line per window), with a line per open
(--audit-coalesce 0: /proc is read and a line queued on every open), and on tmpfs, in one run.

The three mounts run side by side and are measured in alternating rounds, so the machine's mood is
the same for all of them; each figure is the median of the rounds' medians.

Run: make bench BENCH=audit   (or: .venv/bin/python -m tests.bench audit)
"""

from __future__ import annotations

import statistics
import tempfile
from contextlib import ExitStack
from pathlib import Path

from kvfs.fakevault import FakeVault
from tests.bench.bench_read import timings
from tests.bench.common import kvfs_mount, print_table, read_baseline, summary

ITERATIONS = 10_000
ROUNDS = 5
GOAL = 1.2  # audit on, default windows, within 1.2x of audit off


def run() -> None:
    value = "x" * 100
    objects: list[dict[str, object]] = [{"objectName": "bench", "objectType": "secret"}]
    with read_baseline(value) as (readloop, tmpfs_file), FakeVault() as vault, ExitStack() as stack:
        vault.set_secret("bench", value)
        logs = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="kvfs-bench-audit-")))
        targets = {
            "tmpfs (/dev/shm)": tmpfs_file,
            "kvfs, no audit": stack.enter_context(kvfs_mount(vault, objects)).mountpoint / "bench",
            "kvfs, --audit-log (10 s windows)": stack.enter_context(
                kvfs_mount(vault, objects, "--audit-log", str(logs / "windows.jsonl"))
            ).mountpoint / "bench",
            "kvfs, --audit-log --audit-coalesce 0": stack.enter_context(
                kvfs_mount(vault, objects, "--audit-log", str(logs / "every.jsonl"), "--audit-coalesce", "0")
            ).mountpoint / "bench",
        }  # fmt: skip
        for path in targets.values():
            assert path.read_text() == value
            timings(readloop, path, 1000)  # warm-up
        medians: dict[str, list[float]] = {name: [] for name in targets}
        p99s: dict[str, list[float]] = {name: [] for name in targets}
        for _ in range(ROUNDS):
            for name, path in targets.items():
                median, p99 = summary(timings(readloop, path, ITERATIONS))
                medians[name].append(median)
                p99s[name].append(p99)
        every_lines = sum(1 for _ in (logs / "every.jsonl").open())
    median = {name: statistics.median(values) for name, values in medians.items()}
    p99 = {name: statistics.median(values) for name, values in p99s.items()}
    off = median["kvfs, no audit"]
    print_table(
        f"Warm read with and without the audit log: open + read + close of a 100-byte file, "
        f"{ROUNDS} rounds x {ITERATIONS:,} (C client, one process)",
        ["target", "median µs", "p99 µs", "vs no audit", "vs tmpfs"],
        [[name, f"{median[name]:.1f}", f"{p99[name]:.1f}", f"{median[name] / off:.2f}x",
          f"{median[name] / median['tmpfs (/dev/shm)']:.1f}x"] for name in targets],
    )  # fmt: skip
    print(f"lines written with a line per open: {every_lines:,}")
    ratio = median["kvfs, --audit-log (10 s windows)"] / off
    print(f"Goal: audit on within {GOAL}x of audit off -> {ratio:.2f}x, {'met' if ratio <= GOAL else 'NOT met'}")


if __name__ == "__main__":
    run()

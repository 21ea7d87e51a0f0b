"""The chaos test's long version: many more examples and steps than CI runs, from a fresh random seed.

Run: make bench BENCH=chaos   (or: .venv/bin/python -m tests.bench chaos; KVFS_CHAOS_SEED=N replays a run)
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time

from tests.bench.common import print_table

EXAMPLES = int(os.environ.get("KVFS_CHAOS_LONG_EXAMPLES", "20"))
STEPS = int(os.environ.get("KVFS_CHAOS_LONG_STEPS", "40"))


def run() -> None:
    seed = int(os.environ.get("KVFS_CHAOS_SEED") or random.randrange(2**32))
    env = {**os.environ, "KVFS_CHAOS_SEED": str(seed), "KVFS_CHAOS_EXAMPLES": str(EXAMPLES),
           "KVFS_CHAOS_STEPS": str(STEPS)}  # fmt: skip
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "timeout=0",
         "tests/mount/test_chaos.py"],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    took = time.monotonic() - started
    summary = (result.stdout.strip().splitlines() or ["(no output)"])[-1]
    print_table(
        "Chaos, long run",
        ["seed", "examples", "steps each", "minutes", "result"],
        [[seed, EXAMPLES, STEPS, f"{took / 60:.1f}", summary]],
    )
    if result.returncode != 0:
        print(result.stdout[-4000:])
        print(f"replay: KVFS_CHAOS_SEED={seed} KVFS_CHAOS_EXAMPLES={EXAMPLES} KVFS_CHAOS_STEPS={STEPS} "
              ".venv/bin/pytest -q tests/mount/test_chaos.py")  # fmt: skip


if __name__ == "__main__":
    run()

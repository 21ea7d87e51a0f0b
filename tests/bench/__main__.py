"""Run the benchmarks: python -m tests.bench [NAME ...] (default: all). Not part of CI."""

from __future__ import annotations

import sys

from tests.bench import (
    bench_container,
    bench_directory,
    bench_lazy,
    bench_read,
    bench_rotation,
    bench_startup,
    bench_sync,
)

BENCHMARKS = {
    "read": bench_read.run,
    "startup": bench_startup.run,
    "rotation": bench_rotation.run,
    "sync": bench_sync.run,
    "container": bench_container.run,
    "directory": bench_directory.run,
    "lazy": bench_lazy.run,
}

names = sys.argv[1:] or list(BENCHMARKS)
for name in names:
    if name not in BENCHMARKS:
        sys.exit(f"unknown benchmark {name!r}; choose from {', '.join(BENCHMARKS)}")
    BENCHMARKS[name]()

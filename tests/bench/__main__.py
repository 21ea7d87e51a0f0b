"""Run the benchmarks: python -m tests.bench [NAME ...]. Not part of CI.

With no name, every benchmark but the long ones (soak: an hour; chaos and fuzz: long randomised runs of
what CI runs briefly; conformance: the Azure SDK's own tests, downloaded from PyPI), which run when named:
``make bench BENCH=soak``.
"""

from __future__ import annotations

import sys

from tests.bench import (
    bench_audit,
    bench_chaos,
    bench_conformance,
    bench_container,
    bench_directory,
    bench_fuzz,
    bench_lazy,
    bench_read,
    bench_rotation,
    bench_scale,
    bench_soak,
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
    "scale": bench_scale.run,
    "audit": bench_audit.run,
    "soak": bench_soak.run,
    "chaos": bench_chaos.run,
    "fuzz": bench_fuzz.run,
    "conformance": bench_conformance.run,
}
LONG = {"soak", "chaos", "fuzz", "conformance"}

names = sys.argv[1:] or [name for name in BENCHMARKS if name not in LONG]
for name in names:
    if name not in BENCHMARKS:
        sys.exit(f"unknown benchmark {name!r}; choose from {', '.join(BENCHMARKS)}")
    BENCHMARKS[name]()

"""Benchmark plumbing: the fake vault, a kvfs mount in a subprocess, statistics and tables."""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from kvfs.fakevault import FakeVault
from tests.helpers import force_unmount, is_live_mount, provider_class_yaml, wait_for

HERE = Path(__file__).parent


def percentile(samples: Sequence[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(samples: Sequence[float]) -> tuple[float, float]:
    return statistics.median(samples), percentile(samples, 0.99)


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    cells = [list(map(str, header))] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    print(f"\n{title}")
    for n, row in enumerate(cells):
        print("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))))
        if n == 0:
            print("  ".join("-" * w for w in widths))


def compile_readloop(workdir: Path) -> Path:
    binary = workdir / "readloop"
    subprocess.run(["cc", "-O2", "-o", str(binary), str(HERE / "readloop.c")], check=True)
    return binary


@contextmanager
def read_baseline(value: str) -> Iterator[tuple[Path, Path]]:
    """The C read loop and the baseline: ``value`` in a file on tmpfs (/dev/shm)."""
    with tempfile.TemporaryDirectory(prefix="kvfs-bench-", dir="/dev/shm") as shm:
        tmpfs_file = Path(shm) / "secret"
        tmpfs_file.write_text(value)
        yield compile_readloop(Path(shm)), tmpfs_file


class MountedKvfs:
    """kvfs mount in a subprocess; ``requests`` holds the FUSE request counts it logs at unmount."""

    def __init__(self, process: subprocess.Popen[str], mountpoint: Path, started: float) -> None:
        self.process = process
        self.mountpoint = mountpoint
        self.started = started
        self.ready_after = 0.0
        self.stderr = ""
        self.requests: dict[str, int] = {}


@contextmanager
def kvfs_mount(vault: FakeVault, objects: list[dict[str, object]], *args: str) -> Iterator[MountedKvfs]:
    """``kvfs mount CLASS MOUNTPOINT`` of ``objects``, ready (the mountpoint is a mount) when entered."""
    with tempfile.TemporaryDirectory(prefix="kvfs-bench-") as tmp:
        spc = Path(tmp) / "spc.yaml"
        spc.write_text(provider_class_yaml(objects, tenant_id=vault.tenant_id, client_id=vault.client_id))
        mountpoint = Path(tmp) / "mnt"
        with _mounted(vault, mountpoint, ["mount", str(spc), str(mountpoint), "--vault-url", vault.vault_url,
                                          *args]) as mounted:  # fmt: skip
            yield mounted


@contextmanager
def kvfs_vault_mount(vault: FakeVault, *args: str) -> Iterator[MountedKvfs]:
    """``kvfs mount --vault URL MOUNTPOINT``: the whole vault, no class."""
    with tempfile.TemporaryDirectory(prefix="kvfs-bench-") as tmp:
        mountpoint = Path(tmp) / "mnt"
        with _mounted(vault, mountpoint, ["mount", "--vault", vault.vault_url, str(mountpoint), *args]) as mounted:
            yield mounted


@contextmanager
def _mounted(vault: FakeVault, mountpoint: Path, argv: list[str]) -> Iterator[MountedKvfs]:
    mountpoint.mkdir()
    env = {**os.environ, **vault.workload_identity_env()}
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "kvfs", *argv, "--ca-file", str(vault.ca_file)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    mounted = MountedKvfs(process, mountpoint, started)
    try:
        wait_for(lambda: is_live_mount(mountpoint) or process.poll() is not None, timeout=300, interval=0.002)
        if process.poll() is not None:
            raise RuntimeError(f"kvfs exited: {process.communicate()[1]}")
        mounted.ready_after = time.monotonic() - started
        yield mounted
    finally:
        process.terminate()
        mounted.stderr = process.communicate(timeout=30)[1]
        force_unmount(mountpoint)
        match = re.search(r"FUSE requests served: (\{.*\})", mounted.stderr)
        if match:
            mounted.requests = {k: int(v) for k, v in re.findall(r"'(\w+)': (\d+)", match.group(1))}


def vm_rss_kib(pid: int) -> int:
    """Resident memory of a process (VmRSS in /proc/PID/status)."""
    status = Path(f"/proc/{pid}/status").read_text()
    found = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    if found is None:
        raise RuntimeError(f"no VmRSS for process {pid}")
    return int(found.group(1))

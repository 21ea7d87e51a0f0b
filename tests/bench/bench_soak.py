"""Soak: 100 objects, 1 s polls, continuous readers and rotations; memory, fds, threads and inodes stay flat.

Every minute the daemon's resident memory, open file descriptors, threads and FUSE inode table (inodes
the kernel references, retired inodes kept for it) are sampled. At the end the kernel is asked to drop its
caches: every lookup must then be balanced by a forget (no inode referenced, none retired).

Run: make bench BENCH=soak (an hour), or for a quick check:
    KVFS_SOAK_MINUTES=3 KVFS_SOAK_SAMPLE_SECONDS=20 .venv/bin/python -m tests.bench soak
"""

from __future__ import annotations

import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from kvfs.fakevault import FakeVault
from tests.bench.common import print_table, vm_rss_kib
from tests.helpers import force_unmount, is_live_mount, provider_class_yaml, wait_for

OBJECTS = 100
MINUTES = float(os.environ.get("KVFS_SOAK_MINUTES", "60"))
SAMPLE_SECONDS = float(os.environ.get("KVFS_SOAK_SAMPLE_SECONDS", "60"))
ROTATIONS_PER_SECOND = 5
READERS = 4
#: Stated bounds, from the first sample after warm-up to the last.
RSS_GROWTH_MIB = 8.0
FD_GROWTH = 4
THREAD_GROWTH = 4


@dataclass
class Sample:
    minute: float
    rss_mib: float
    fds: int
    threads: int
    referenced: int
    retired: int
    reads: int
    rotations: int


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def metrics(url: str) -> dict[str, float]:
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    return {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples if not s.labels}


def threads_of(pid: int) -> int:
    found = re.search(r"^Threads:\s+(\d+)", Path(f"/proc/{pid}/status").read_text(), re.MULTILINE)
    return int(found.group(1)) if found else 0


def run() -> None:
    names = [f"soak-{i:03d}" for i in range(OBJECTS)]
    stop = threading.Event()
    counts = {"reads": 0, "rotations": 0, "read_errors": 0}
    with tempfile.TemporaryDirectory(prefix="kvfs-soak-") as tmp, FakeVault() as vault:
        for name in names:
            vault.set_secret(name, f"{name} version 0")
        spc = Path(tmp) / "spc.yaml"
        objects: list[dict[str, object]] = [{"objectName": n, "objectType": "secret"} for n in names]
        spc.write_text(provider_class_yaml(objects, tenant_id=vault.tenant_id, client_id=vault.client_id))
        mountpoint = Path(tmp) / "mnt"
        address = f"127.0.0.1:{free_port()}"
        log = Path(tmp) / "kvfs.log"
        with log.open("w") as log_file:
            process = subprocess.Popen(
                [sys.executable, "-m", "kvfs", "mount", str(spc), str(mountpoint), "--vault-url", vault.vault_url,
                 "--ca-file", str(vault.ca_file), "--rotation-poll-interval", "1s", "--metrics-addr", address],
                env={**os.environ, **vault.workload_identity_env()}, stdout=subprocess.DEVNULL, stderr=log_file,
            )  # fmt: skip
        try:
            wait_for(lambda: is_live_mount(mountpoint) or process.poll() is not None, timeout=60)
            url = f"http://{address}/metrics"

            def read_forever() -> None:
                rng = random.Random()
                while not stop.is_set():
                    try:
                        (mountpoint / rng.choice(names)).read_bytes()
                        counts["reads"] += 1
                    except OSError:
                        counts["read_errors"] += 1

            def rotate_forever() -> None:
                rng, n = random.Random(), 0
                while not stop.wait(1 / ROTATIONS_PER_SECOND):
                    n += 1
                    vault.set_secret(rng.choice(names), f"version {n} " + "x" * rng.randint(0, 2000))
                    counts["rotations"] += 1

            workers = [threading.Thread(target=read_forever) for _ in range(READERS)]
            workers.append(threading.Thread(target=rotate_forever))
            for worker in workers:
                worker.start()
            samples: list[Sample] = []
            started = time.monotonic()
            while True:
                now = metrics(url)
                referenced, retired = (
                    now.get("kvfs_fuse_inodes_referenced", -1),
                    now.get("kvfs_fuse_inodes_retired", -1),
                )
                samples.append(
                    Sample((time.monotonic() - started) / 60, vm_rss_kib(process.pid) / 1024,
                           len(os.listdir(f"/proc/{process.pid}/fd")), threads_of(process.pid),
                           int(referenced), int(retired), counts["reads"], counts["rotations"])
                )  # fmt: skip
                if time.monotonic() - started >= MINUTES * 60 or process.poll() is not None:
                    break
                time.sleep(SAMPLE_SECONDS)
            stop.set()
            for worker in workers:
                worker.join(timeout=30)
            Path("/proc/sys/vm/drop_caches").write_text("2\n")
            wait_for(lambda: metrics(url).get("kvfs_fuse_inodes_referenced") == 0, timeout=30, what="every forget")
            final = metrics(url)
            alive = process.poll() is None
        finally:
            process.terminate()
            process.wait(timeout=30)
            force_unmount(mountpoint)
    print_table(
        f"Soak: {OBJECTS} objects, 1 s polls, {READERS} readers, {ROTATIONS_PER_SECOND} new versions/s, "
        f"{MINUTES:g} min",
        ["minute", "RSS MiB", "fds", "threads", "inodes referenced", "inodes retired", "reads", "new versions"],
        [[f"{s.minute:.1f}", f"{s.rss_mib:.1f}", s.fds, s.threads, s.referenced, s.retired, f"{s.reads:,}",
          f"{s.rotations:,}"] for s in samples],
    )  # fmt: skip
    base, last = samples[min(1, len(samples) - 1)], samples[-1]
    verdicts = [
        ("daemon alive, no read failed", alive and counts["read_errors"] == 0),
        (f"RSS grew {last.rss_mib - base.rss_mib:+.1f} MiB (bound {RSS_GROWTH_MIB} MiB)",
         last.rss_mib - base.rss_mib <= RSS_GROWTH_MIB),
        (f"fds {base.fds} -> {last.fds} (bound +{FD_GROWTH})", last.fds - base.fds <= FD_GROWTH),
        (f"threads {base.threads} -> {last.threads} (bound +{THREAD_GROWTH})",
         last.threads - base.threads <= THREAD_GROWTH),
        (f"inodes referenced beyond the retired at most {max(s.referenced - s.retired for s in samples)} "
         f"(bound: the {OBJECTS} files)", max(s.referenced - s.retired for s in samples) <= OBJECTS),
        (f"retired inodes at most {max(s.retired for s in samples)} (bound: {OBJECTS}, one per file)",
         max(s.retired for s in samples) <= OBJECTS),
        (f"after drop_caches: {final.get('kvfs_fuse_inodes_referenced'):.0f} referenced, "
         f"{final.get('kvfs_fuse_inodes_retired'):.0f} retired (lookups balanced by forgets)",
         final.get("kvfs_fuse_inodes_referenced") == 0 and final.get("kvfs_fuse_inodes_retired") == 0),
    ]  # fmt: skip
    for text, ok in verdicts:
        print(f"{'ok  ' if ok else 'FAIL'} {text}")
    if not all(ok for _, ok in verdicts):
        sys.exit("soak: a bound was exceeded")


if __name__ == "__main__":
    run()

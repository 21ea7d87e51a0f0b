"""kvfs in its container next to kvfs on the host: image size, start to ready, and the daemon's memory.

The container runs as tests/containers/ runs it (the test image, podman + runc, a shared volume, the fake
vault on the host network). "Ready" is the mount visible and answering on the host, timed from the start of
``podman run`` (or of the host's ``kvfs mount`` process). Memory is the daemon's VmRSS once ready and every
file has been read once (its host PID from ``podman inspect``).

Run: .venv/bin/python -m tests.bench container   (as root, with podman, runc and mmdebstrap installed)
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from kvfs.fakevault import FakeVault
from tests.bench.common import print_table, vm_rss_kib
from tests.containers.podman import (
    BASE_IMAGE,
    KvfsContainer,
    build_test_image,
    image_size,
    missing_tools,
    podman,
    podman_env,
    shared_directory,
)
from tests.helpers import force_unmount, is_live_mount, provider_class_yaml, wait_for

RUNS = 7
COUNTS = (10, 1000)
VALUE = "v" * 64
KVFS = Path(sys.executable).parent / "kvfs"  # the console script, as the image's ENTRYPOINT is


class Sample:
    def __init__(self, ready: float, daemon: float, rss_kib: int, stop: float) -> None:
        self.ready = ready  # s from process start to the mount on the host
        self.daemon = daemon  # s kvfs itself logs (after imports and set-up)
        self.rss_kib = rss_kib
        self.stop = stop  # s from podman stop / SIGTERM to the process gone and the mount removed


def daemon_ready_seconds(log: str) -> float:
    match = re.search(r"ready: .* in ([0-9.]+)s", log)
    return float(match.group(1)) if match else float("nan")


def read_every_file(root: Path) -> int:
    total = 0
    for path in root.rglob("*"):
        if path.is_file():
            total += len(path.read_bytes())
    return total


def wait_mounted(mountpoint: Path, alive: Callable[[], bool], what: str) -> float:
    def ready() -> bool:
        if is_live_mount(mountpoint):
            return True
        if not alive():
            raise RuntimeError(f"{what} exited before mounting")
        return False

    wait_for(ready, timeout=120, interval=0.002, what=f"{what} to mount {mountpoint}")
    return time.monotonic()


def in_container(image: str, vault: FakeVault, volume: Path, spc: Path) -> Sample:
    kvfs = KvfsContainer(image, volume, spc, vault)
    kvfs.mountpoint.mkdir(exist_ok=True)
    pid = 0

    def alive() -> bool:
        nonlocal pid
        if run.poll() is None:
            return True
        if run.returncode != 0:
            return False
        pid = pid or kvfs.host_pid()
        return pid != 0 and Path(f"/proc/{pid}").exists()

    try:
        started = time.monotonic()
        run = subprocess.Popen(["podman", "--runtime", "runc", *kvfs.run_command()], env=podman_env(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip
        ready = wait_mounted(kvfs.mountpoint, alive, "kvfs's container")
        if run.wait(timeout=60) != 0:
            raise RuntimeError(f"podman run failed: {run.stderr.read() if run.stderr else ''}")
        read_every_file(kvfs.mountpoint)
        rss = vm_rss_kib(kvfs.daemon_pid())
        stopping = time.monotonic()
        code = kvfs.stop()
        stopped = time.monotonic()
        if code != 0:
            raise RuntimeError(f"kvfs exited with {code}:\n{kvfs.logs()}")
        return Sample(ready - started, daemon_ready_seconds(kvfs.logs()), rss, stopped - stopping)
    finally:
        kvfs.remove()
        force_unmount(kvfs.mountpoint)


def on_host(vault: FakeVault, spc: Path, mountpoint: Path) -> Sample:
    env = {**os.environ, **vault.workload_identity_env()}
    args = [str(KVFS), "mount", str(spc), str(mountpoint)]
    args += ["--vault-url", vault.vault_url, "--ca-file", str(vault.ca_file)]
    started = time.monotonic()
    process = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        ready = wait_mounted(mountpoint, lambda: process.poll() is None, "kvfs")
        read_every_file(mountpoint)
        rss = vm_rss_kib(process.pid)
        stopping = time.monotonic()
        process.terminate()
        _, stderr = process.communicate(timeout=60)
        stopped = time.monotonic()
        if process.returncode != 0:
            raise RuntimeError(f"kvfs exited with {process.returncode}:\n{stderr}")
        return Sample(ready - started, daemon_ready_seconds(stderr), rss, stopped - stopping)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        force_unmount(mountpoint)


def median(values: list[float]) -> float:
    return statistics.median(values)


def run() -> None:
    problem = missing_tools()
    if problem:
        raise SystemExit(f"container benchmark: {problem}")
    image = build_test_image()
    size, base = image_size(image), image_size(BASE_IMAGE)
    du = ["run", "--rm", "--entrypoint", "du", image, "-s", "--apparent-size", "--block-size=1", "/opt/kvfs"]
    venv = int(podman(*du).stdout.split()[0])
    mb = 1_000_000
    print_table(
        "Image size (uncompressed, as podman counts it)",
        ["image", "MB", "what"],
        [
            [image, f"{size / mb:.0f}", "containers/Containerfile.test: the base + containers/install-kvfs.sh"],
            [f"  base {BASE_IMAGE}", f"{base / mb:.0f}", "Debian minbase + python3, python3-venv, fuse3, CAs"],
            ["  kvfs's layer", f"{(size - base) / mb:.0f}", f"the /opt/kvfs venv ({venv / mb:.0f} MB of files)"],
            ["containers/Dockerfile", "-", "not built: python:3.11-slim-bookworm cannot be pulled here"],
        ],
    )

    start_rows, memory_rows = [], []
    with FakeVault() as vault, tempfile.TemporaryDirectory(prefix="kvfs-bench-container-") as tmp_name:
        tmp = Path(tmp_name)
        for i in range(max(COUNTS)):
            vault.set_secret(f"secret-{i}", VALUE)
        with shared_directory(tmp) as volume:
            host_mountpoint = tmp / "host-mnt"
            host_mountpoint.mkdir()
            for count in COUNTS:
                spc = tmp / f"spc-{count}.yaml"
                objects: list[dict[str, object]] = [
                    {"objectName": f"secret-{i}", "objectType": "secret"} for i in range(count)
                ]
                spc.write_text(provider_class_yaml(objects, tenant_id=vault.tenant_id, client_id=vault.client_id))
                c: list[Sample] = []
                h: list[Sample] = []
                for _ in range(RUNS):  # alternate, so that drift affects both alike
                    c.append(in_container(image, vault, volume, spc))
                    h.append(on_host(vault, spc, host_mountpoint))
                c_ready, h_ready = median([s.ready for s in c]), median([s.ready for s in h])
                start_rows.append([
                    f"{count} secrets", f"{c_ready:.3f}", f"{h_ready:.3f}", f"{c_ready / h_ready:.2f}x",
                    f"+{c_ready - h_ready:.3f}", f"{median([s.daemon for s in c]):.3f}",
                    f"{median([s.daemon for s in h]):.3f}",
                    f"{median([s.stop for s in c]):.3f}", f"{median([s.stop for s in h]):.3f}",
                ])  # fmt: skip
                c_rss, h_rss = median([s.rss_kib for s in c]) / 1024, median([s.rss_kib for s in h]) / 1024
                memory_rows.append([f"{count} secrets", f"{c_rss:.1f}", f"{h_rss:.1f}", f"{c_rss / h_rss:.2f}x"])
    print_table(
        f"Start to ready: s from the process start to the mount on the host (median of {RUNS}); "
        "podman run + runc, or kvfs mount on the host",
        ["case", "container", "host", "ratio", "difference", "kvfs's own (container)", "kvfs's own (host)",
         "stop: container", "stop: host"],
        start_rows,
    )  # fmt: skip
    print_table(
        f"Daemon memory: VmRSS in MiB once ready and every file read (median of {RUNS}); "
        "the container has Debian's python3.11, the host its own 3.11",
        ["case", "container", "host", "ratio"],
        memory_rows,
    )


if __name__ == "__main__":
    run()

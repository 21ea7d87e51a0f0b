"""Mount-ready time: 200 secrets with 50 ms added to every vault request; and 1 object.

Run: make bench   (or: .venv/bin/python -m tests.bench startup)
"""

from __future__ import annotations

import re

from kvfs.fakevault import FakeVault
from tests.bench.common import kvfs_mount, print_table

LATENCY_MS = 50


def ready_time(count: int, latency_ms: int, *args: str) -> tuple[float, float, int]:
    """Seconds to the mount appearing, from the process's start and from the daemon's (after imports
    and set-up, as kvfs logs it), and the vault requests it made."""
    with FakeVault() as vault:
        for i in range(count):
            vault.set_secret(f"secret-{i}", f"value-{i}")
        if latency_ms:
            vault.add_fault(latency_ms=latency_ms, path=r"^/(secrets|keys|certificates)")
        vault.clear_requests()
        objects: list[dict[str, object]] = [{"objectName": f"secret-{i}", "objectType": "secret"} for i in range(count)]
        with kvfs_mount(vault, objects, *args) as mount:
            elapsed = mount.ready_after
        daemon = float(re.search(r"ready: .* in ([0-9.]+)s", mount.stderr).group(1))
        requests = len(vault.requests())
    return elapsed, daemon, requests


def run() -> None:
    rows = []
    one, one_daemon, one_requests = ready_time(1, 0)
    rows.append(["1 secret, no added latency", f"{one:.2f}", f"{one_daemon:.2f}", one_requests, "-"])
    serial = 200 * LATENCY_MS / 1000
    for concurrency in ("8", "16", "32"):
        elapsed, daemon, requests = ready_time(200, LATENCY_MS, "--concurrency", concurrency)
        rows.append(
            [f"200 secrets, {LATENCY_MS} ms/request, --concurrency {concurrency}", f"{elapsed:.2f}", f"{daemon:.2f}",
             requests, f"{serial / daemon:.1f}x"]
        )  # fmt: skip
    print_table(
        "Mount-ready time (the provider fetches one object at a time: "
        f"{serial:.0f} s for 200 at {LATENCY_MS} ms; kvfs's default --concurrency is 16)",
        ["case", "s from process start", "s from daemon start", "vault requests", "faster than serial"],
        rows,
    )


if __name__ == "__main__":
    run()

"""Metrics, health probes and JSON logs of a real mount, read over HTTP as Prometheus and the kubelet would."""

from __future__ import annotations

import json
import re
import signal
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from kvfs.engine.rotation import SAME_SECOND_MARGIN
from kvfs.fakevault import FakeVault
from kvfs.observe.health import Health
from tests.helpers import KvfsProcess, wait_for
from tests.mount.conftest import MountFactory

URL = re.compile(r"metrics and health on (http://[\d.]+:\d+)")


def endpoint(kvfs: KvfsProcess) -> str:
    kvfs.wait_for_log("metrics and health on")
    found = URL.search(kvfs.stderr)
    assert found is not None, kvfs.stderr
    return found.group(1)


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def samples(base: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics by (name, sorted labels)."""
    status, text = get(f"{base}/metrics")
    assert status == 200
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(base: str, name: str, **labels: str) -> float:
    return samples(base).get((name, tuple(sorted(labels.items()))), 0.0)


def test_probes_follow_the_load_and_stay_ready_through_a_vault_outage(
    vault: FakeVault, start_kvfs: MountFactory, mountpoint: Path
) -> None:
    vault.set_secret("db", "v1")
    fault = vault.add_fault(latency_ms=1500, path=r"^/secrets/db")  # a slow first load: probes answer meanwhile
    kvfs = start_kvfs(
        [{"objectName": "db", "objectType": "secret"}],
        "--metrics-addr", "127.0.0.1:0", "--rotation-poll-interval", "1s",
        wait=False,
    )  # fmt: skip
    base = endpoint(kvfs)
    status, body = get(f"{base}/readyz")
    assert status == 503 and json.loads(body)["ready"] is False
    assert get(f"{base}/healthz")[0] == 200  # alive while loading
    vault.clear_faults()
    kvfs.wait_ready()
    assert fault
    status, body = get(f"{base}/readyz")
    report = json.loads(body)
    assert status == 200
    assert report["ready"] is True and report["objects"] == 1 and report["stale"] is False
    status, body = get(f"{base}/healthz")
    assert status == 200 and body.startswith("ok: the mount answered")

    vault.add_fault(status=503, path=r"^/secrets")  # the vault goes down: content stays, readiness stays
    wait_for(lambda: json.loads(get(f"{base}/readyz")[1]).get("stale") is True, timeout=15, what="staleness")
    status, body = get(f"{base}/readyz")
    assert status == 200 and json.loads(body)["last_successful_poll_age_seconds"] > 2
    assert (mountpoint / "db").read_text() == "v1"
    assert value(base, "kvfs_polls_failed_total") >= 1
    assert value(base, "kvfs_vault_requests_total", kind="secret", operation="list", outcome="unavailable") >= 1
    assert kvfs.stop() == 0


def test_metrics_count_what_happened(
    vault: FakeVault, start_kvfs: MountFactory, mountpoint: Path, tmp_path: Path
) -> None:
    vault.set_secret("db", "v1")
    vault.set_secret("api", "a1")
    # Loaded more than SAME_SECOND_MARGIN after their update, kvfs has no same-second confirmation to make:
    # the measured poll fetches only what changed.
    settled = int(vault.get("secrets", "api")["attributes"]["updated"]) + SAME_SECOND_MARGIN
    wait_for(lambda: time.time() >= settled, what="the same-second margin")
    kvfs = start_kvfs(
        [{"objectName": "db", "objectType": "secret"}, {"objectName": "api", "objectType": "secret"}],
        "--metrics-addr", "127.0.0.1:0", "--rotation-poll-interval", "1h", "--on-change-exec", "true",
    )  # fmt: skip
    base = endpoint(kvfs)
    before = samples(base)
    assert before[("kvfs_ready", ())] == 1
    assert before[("kvfs_objects_served", ())] == 2 and before[("kvfs_files_served", ())] == 2
    assert before[("kvfs_vault_requests_total", (("kind", "secret"), ("operation", "get"), ("outcome", "ok")))] == 2
    assert before[("kvfs_vault_request_duration_seconds_count", (("kind", "secret"), ("operation", "get")))] == 2
    opens = before.get(("kvfs_fuse_requests_total", (("operation", "open"),)), 0)
    for _ in range(3):
        (mountpoint / "db").read_text()
    assert value(base, "kvfs_fuse_requests_total", operation="open") >= opens + 1  # the kernel may cache opens

    vault.set_secret("db", "v2")
    kvfs.process.send_signal(signal.SIGHUP)
    wait_for(lambda: value(base, "kvfs_hook_runs_total", hook="exec", outcome="ok") == 1, what="the hook run")
    after = samples(base)
    assert after[("kvfs_changes_applied_total", ())] == 1
    assert after[("kvfs_swaps_total", ())] == 1
    assert after[("kvfs_polls_total", ())] == 1
    assert after[("kvfs_poll_list_calls_total", ())] == 1
    assert after[("kvfs_poll_get_calls_total", ())] == 1
    assert 0 <= after[("kvfs_last_successful_poll_age_seconds", ())] < 60
    assert after[("kvfs_build_info", (("version", "0.1.0"),))] == 1
    assert all(name.startswith("kvfs_") for name, _ in after)
    assert kvfs.stop() == 0


def test_a_hung_fuse_loop_fails_liveness_within_the_deadline(
    vault: FakeVault, start_kvfs: MountFactory, mountpoint: Path
) -> None:
    """A stopped daemon is a loop that never answers: a statvfs of its mount hangs, the probe does not."""
    vault.set_secret("db", "v1")
    kvfs = start_kvfs([{"objectName": "db", "objectType": "secret"}])
    health = Health(mountpoint=mountpoint, ready=True)
    import trio

    assert trio.run(health.liveness)[0] is True
    kvfs.process.send_signal(signal.SIGSTOP)
    try:
        alive, message = trio.run(health.liveness)
        assert alive is False and "did not answer within 2s" in message
        alive, message = trio.run(health.liveness)  # the first probe's thread is still stuck: no second one
        assert alive is False and "has not answered an earlier probe" in message
    finally:
        kvfs.process.send_signal(signal.SIGCONT)
    wait_for(lambda: trio.run(health.liveness)[0], what="liveness once the loop answers again")
    assert kvfs.stop() == 0


@pytest.mark.parametrize(
    ("address", "code", "message"),
    [("nonsense", 2, "expected HOST:PORT"), ("127.0.0.1:99999", 2, "expected HOST:PORT")],
)
def test_a_bad_metrics_address_is_a_configuration_error(
    vault: FakeVault, start_kvfs: MountFactory, address: str, code: int, message: str
) -> None:
    kvfs = start_kvfs([{"objectName": "db", "objectType": "secret"}], "--metrics-addr", address, wait=False)
    assert kvfs.wait_exit() == code
    assert message in kvfs.stderr and "Traceback" not in kvfs.stderr
    assert vault.requests() == []


def test_a_taken_port_is_one_line(vault: FakeVault, start_kvfs: MountFactory, mountpoint: Path, tmp_path: Path) -> None:
    vault.set_secret("db", "v1")
    first = start_kvfs([{"objectName": "db", "objectType": "secret"}], "--metrics-addr", "127.0.0.1:0")
    taken = endpoint(first).removeprefix("http://")
    other = tmp_path / "other"
    other.mkdir()
    second = start_kvfs(
        [{"objectName": "db", "objectType": "secret"}], "--metrics-addr", taken, wait=False, target=other
    )
    assert second.wait_exit() == 1
    (line,) = [line for line in second.stderr.splitlines() if line.startswith("kvfs: error:")]
    assert f"--metrics-addr {taken}: cannot listen" in line and "Traceback" not in second.stderr
    assert first.stop() == 0


def test_lookups_are_balanced_by_forgets_once_the_kernel_drops_its_caches(
    vault: FakeVault, start_kvfs: MountFactory, mountpoint: Path
) -> None:
    for name in ("a", "b", "c"):
        vault.set_secret(name, name)
    kvfs = start_kvfs(
        [{"objectName": n, "objectType": "secret", "objectAlias": f"dir/{n}"} for n in ("a", "b", "c")],
        "--metrics-addr", "127.0.0.1:0", "--rotation-poll-interval", "1h",
    )  # fmt: skip
    base = endpoint(kvfs)
    for name in ("a", "b", "c"):
        assert (mountpoint / "dir" / name).read_text() == name
    assert value(base, "kvfs_fuse_inodes_referenced") >= 4  # dir and its three files
    Path("/proc/sys/vm/drop_caches").write_text("2\n")  # the kernel forgets every unused dentry and inode
    wait_for(lambda: value(base, "kvfs_fuse_inodes_referenced") == 0, what="every lookup forgotten")
    assert value(base, "kvfs_fuse_requests_total", operation="forget") >= 1
    assert value(base, "kvfs_fuse_open_handles") == 0

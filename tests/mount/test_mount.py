"""Use a real mount as an application would: cat, stat, ls, writes refused, other users, signals."""

from __future__ import annotations

import errno
import os
import signal
import stat
import subprocess
import time
from pathlib import Path

import pytest
from azure.keyvault.keys import KeyClient
from azure.keyvault.secrets import SecretClient
from cryptography.hazmat.primitives import serialization

from kvfs.fakevault import FakeVault
from tests.conftest import sdk_options
from tests.helpers import KvfsProcess, wait_for
from tests.mount.conftest import MountFactory

NOBODY = 65534


def as_nobody(*command: str) -> subprocess.CompletedProcess[str]:
    """Run a command as another user (uid/gid 65534) to check what the kernel lets it do."""
    return subprocess.run(
        ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *command],
        capture_output=True,
        text=True,
        check=False,
    )


def test_secret_is_served_with_its_exact_bytes_size_mode_and_mtime(
    vault: FakeVault, credential, start_kvfs: MountFactory, mountpoint: Path
) -> None:
    client = SecretClient(vault.vault_url, credential, **sdk_options(vault))
    stored = client.set_secret("db-password", "correct horse battery staple ✓")
    start_kvfs([{"objectName": "db-password", "objectType": "secret", "objectAlias": "password"}])

    path = mountpoint / "password"
    assert subprocess.run(["cat", str(path)], capture_output=True, check=True).stdout == stored.value.encode()
    info = path.stat()
    assert info.st_size == len(stored.value.encode())
    assert stat.S_IMODE(info.st_mode) == 0o644  # the provider's default
    assert int(info.st_mtime) == int(stored.properties.updated_on.timestamp())
    assert os.listdir(mountpoint) == ["password"]


def test_key_and_certificate_objects_and_listing(
    vault: FakeVault, credential, start_kvfs: MountFactory, mountpoint: Path
) -> None:
    vault.set_secret("plain", "value")
    key = KeyClient(vault.vault_url, credential, **sdk_options(vault)).create_rsa_key("signing", size=2048)
    start_kvfs(
        [
            {"objectName": "plain", "objectType": "secret"},
            {"objectName": "signing", "objectType": "key", "objectAlias": "signing.pem"},
        ]
    )
    assert sorted(os.listdir(mountpoint)) == ["plain", "signing.pem"]
    public = serialization.load_pem_public_key((mountpoint / "signing.pem").read_bytes())
    assert public.public_numbers().n == int.from_bytes(key.key.n, "big")
    listing = subprocess.run(["ls", "-l", str(mountpoint)], capture_output=True, text=True, check=True).stdout
    assert "signing.pem" in listing and "plain" in listing


def test_file_permission_and_owner_options(vault: FakeVault, start_kvfs: MountFactory, mountpoint: Path) -> None:
    vault.set_secret("private", "only-for-the-owner")
    vault.set_secret("public", "for-everyone")
    start_kvfs(
        [
            {"objectName": "private", "objectType": "secret", "filePermission": "0600"},
            {"objectName": "public", "objectType": "secret"},
        ],
        "--uid",
        "1000",
        "--gid",
        "2000",
    )
    info = (mountpoint / "private").stat()
    assert stat.S_IMODE(info.st_mode) == 0o600
    assert (info.st_uid, info.st_gid) == (1000, 2000)

    refused = as_nobody("cat", str(mountpoint / "private"))
    assert refused.returncode != 0 and "Permission denied" in refused.stderr
    allowed = as_nobody("cat", str(mountpoint / "public"))
    assert allowed.returncode == 0 and allowed.stdout == "for-everyone"


def test_no_allow_other_keeps_other_users_out(vault: FakeVault, start_kvfs: MountFactory, mountpoint: Path) -> None:
    vault.set_secret("public", "for-everyone")
    start_kvfs([{"objectName": "public", "objectType": "secret"}], "--no-allow-other")
    assert (mountpoint / "public").read_text() == "for-everyone"
    refused = as_nobody("cat", str(mountpoint / "public"))
    assert refused.returncode != 0 and "Permission denied" in refused.stderr


def test_every_write_is_refused_and_changes_nothing(
    vault: FakeVault, start_kvfs: MountFactory, mountpoint: Path
) -> None:
    vault.set_secret("s", "unchanged")
    start_kvfs([{"objectName": "s", "objectType": "secret"}])
    target = mountpoint / "s"
    attempts = [
        lambda: open(target, "w"),  # noqa: SIM115
        lambda: open(target, "a"),  # noqa: SIM115
        lambda: open(mountpoint / "new", "w"),  # noqa: SIM115
        lambda: target.unlink(),
        lambda: target.rename(mountpoint / "moved"),
        lambda: (mountpoint / "dir").mkdir(),
        lambda: target.chmod(0o777),
        lambda: os.truncate(target, 0),
        lambda: os.utime(target, (0, 0)),
        lambda: os.setxattr(target, "user.note", b"x"),
        lambda: (mountpoint / "link").symlink_to(target),
    ]
    for attempt in attempts:
        with pytest.raises(OSError) as info:
            attempt()
        assert info.value.errno in (errno.EROFS, errno.EACCES, errno.EPERM), info.value
    assert target.read_text() == "unchanged"
    assert os.listdir(mountpoint) == ["s"]


def test_statfs_reports_a_read_only_filesystem(vault: FakeVault, start_kvfs: MountFactory, mountpoint: Path) -> None:
    vault.set_secret("s", "x" * 5000)
    start_kvfs([{"objectName": "s", "objectType": "secret"}])
    stats = os.statvfs(mountpoint)
    assert stats.f_flag & os.ST_RDONLY
    assert stats.f_flag & os.ST_NOSUID
    assert stats.f_blocks >= 2 and stats.f_bavail == 0
    mounts = Path("/proc/mounts").read_text().splitlines()
    line = next(m for m in mounts if m.split()[1] == str(mountpoint))
    assert line.startswith("kvfs ") and "fuse.kvfs" in line
    assert "nodev" in line and "ro," in line


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signals_unmount_cleanly_and_exit_zero(
    vault: FakeVault, start_kvfs: MountFactory, mountpoint: Path, sig: int
) -> None:
    vault.set_secret("s", "v")
    process = start_kvfs([{"objectName": "s", "objectType": "secret"}])
    assert process.stop(sig) == 0, process.stderr
    assert not os.path.ismount(mountpoint)
    assert os.listdir(mountpoint) == []


def test_a_stale_mount_from_a_killed_daemon_is_replaced(
    vault: FakeVault, start_kvfs: MountFactory, mountpoint: Path
) -> None:
    vault.set_secret("s", "v1")
    first = start_kvfs([{"objectName": "s", "objectType": "secret"}])
    first.stop(signal.SIGKILL)
    with pytest.raises(OSError) as info:
        os.listdir(mountpoint)
    assert info.value.errno == errno.ENOTCONN
    start_kvfs([{"objectName": "s", "objectType": "secret"}])
    assert (mountpoint / "s").read_text() == "v1"
    stacked = [m for m in Path("/proc/mounts").read_text().splitlines() if m.split()[1] == str(mountpoint)]
    assert len(stacked) == 1


def test_a_missing_object_fails_the_mount_and_names_it(
    vault: FakeVault, start_kvfs: MountFactory, mountpoint: Path
) -> None:
    vault.set_secret("present", "v")
    process = start_kvfs(
        [{"objectName": "present", "objectType": "secret"}, {"objectName": "absent", "objectType": "secret"}],
        wait=False,
    )
    assert process.wait_exit() == 1
    last = process.stderr.strip().splitlines()[-1]
    assert last.startswith("kvfs: error:") and "'absent'" in last and "not found" in last
    assert "Traceback" not in process.stderr
    assert not os.path.ismount(mountpoint)


def test_an_optional_missing_object_does_not_fail_the_mount(
    vault: FakeVault, start_kvfs: MountFactory, mountpoint: Path
) -> None:
    vault.set_secret("present", "v")
    start_kvfs(
        [
            {"objectName": "present", "objectType": "secret"},
            {"objectName": "absent", "objectType": "secret", "optional": True},
        ]
    )
    assert os.listdir(mountpoint) == ["present"]


@pytest.mark.parametrize("problem", ["parent-missing", "not-empty", "a-file"])
def test_a_bad_mountpoint_is_a_one_line_usage_error(
    vault: FakeVault, start_kvfs: MountFactory, tmp_path: Path, problem: str
) -> None:
    vault.set_secret("s", "v")
    target = tmp_path / "target"
    if problem == "parent-missing":
        target = tmp_path / "no-such-folder" / "target"
    elif problem == "not-empty":
        target.mkdir()
        (target / "file").write_text("x")
    elif problem == "a-file":
        target.write_text("x")
    process = start_kvfs([{"objectName": "s", "objectType": "secret"}], wait=False, target=target)
    assert process.wait_exit() == 2
    lines = process.stderr.strip().splitlines()
    assert len(lines) == 1, lines  # nothing else happens before the check
    assert lines[0].startswith("kvfs: error: mountpoint")
    assert str(target) in lines[0]


def test_a_missing_mountpoint_is_created_when_its_parent_exists(
    vault: FakeVault, start_kvfs: MountFactory, mountpoint: Path
) -> None:
    """In a pod, the shared emptyDir starts empty: kvfs makes its sub-folder."""
    vault.set_secret("s", "v")
    target = mountpoint / "secrets"
    kvfs = start_kvfs([{"objectName": "s", "objectType": "secret"}], target=target)
    assert (target / "s").read_text() == "v"
    assert kvfs.stop() == 0
    assert f"created the mountpoint {target}" in kvfs.stderr
    assert target.is_dir() and not os.path.ismount(target)


@pytest.mark.parametrize("fault", [{"status": 503}, {"latency_ms": 30_000}])
def test_sigterm_during_the_first_load_exits_0_at_once(
    vault: FakeVault, start_kvfs: MountFactory, mountpoint: Path, fault: dict[str, int]
) -> None:
    """A failing or hanging vault must not hold a stopping pod: no wait for the SDK's retries or timeouts."""
    vault.set_secret("s", "v")
    vault.add_fault(path=r"^/secrets/s", **fault)
    kvfs = start_kvfs([{"objectName": "s", "objectType": "secret"}], wait=False)
    wait_for(lambda: any(r["path"].startswith("/secrets/s") for r in vault.requests()), what="the load to start")
    started = time.monotonic()
    assert kvfs.stop() == 0, kvfs.stderr
    assert time.monotonic() - started < 3
    assert "SIGTERM received" in kvfs.stderr and "kvfs: error" not in kvfs.stderr
    assert not os.path.ismount(mountpoint)


def test_secret_values_never_reach_the_logs_even_at_debug_level(
    vault: FakeVault, start_kvfs: MountFactory, mountpoint: Path
) -> None:
    value = "do-not-log-me-4f9c2b"
    vault.set_secret("s", value)
    process = start_kvfs([{"objectName": "s", "objectType": "secret"}], env={"KVFS_LOG_LEVEL": "debug"})
    assert (mountpoint / "s").read_text() == value
    assert process.stop() == 0
    assert "ready:" in process.stderr  # the debug log was captured
    assert value not in process.stderr + process.stdout


def test_demo_mounts_the_sample_objects_and_stops_cleanly(mountpoint: Path) -> None:
    demo = KvfsProcess(["demo", str(mountpoint)], dict(os.environ), mountpoint)
    demo.wait_ready()
    names = sorted(os.listdir(mountpoint))
    assert names == ["password", "signing-key.pem", "tls.crt", "tls.pem"]
    assert (mountpoint / "tls.crt").read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    assert stat.S_IMODE((mountpoint / "tls.pem").stat().st_mode) == 0o600
    assert demo.stop() == 0
    assert "kvfs demo:" in demo.stdout
    assert not os.path.ismount(mountpoint)


def test_the_connection_has_room_for_background_requests(
    vault: FakeVault, start_kvfs: MountFactory, mountpoint: Path
) -> None:
    """With libfuse's 12, a storm of closes starves page reads (seen under 32 readers during rotations)."""
    from kvfs.sinks.fuse.mountpoint import MAX_BACKGROUND, _connection_id

    vault.set_secret("s", "v")
    start_kvfs([{"objectName": "s", "objectType": "secret"}])
    connection = _connection_id(mountpoint)
    assert connection is not None
    settings = Path("/sys/fs/fuse/connections") / str(connection)
    assert int((settings / "max_background").read_text()) == MAX_BACKGROUND

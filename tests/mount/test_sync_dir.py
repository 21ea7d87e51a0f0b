"""``kvfs sync-dir``: the class's files in a tmpfs directory in the kubelet's layout, the same bytes and
modes as the mount, kept current, safe across kills, refused on a disk."""

from __future__ import annotations

import base64
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from inotify_simple import INotify
from inotify_simple import flags as inotify_flags

from kvfs.fakevault import FakeVault
from kvfs.sinks.directory.writer import DATA
from tests.fakekube import DEFAULT_NAMESPACE, FakeKubeAPI
from tests.helpers import KvfsProcess, provider_class_yaml, wait_for
from tests.mount.conftest import MountFactory, kvfs_env
from tests.pki import make_chain

OBJECTS: list[dict[str, object]] = [
    {"objectName": "db", "objectType": "secret", "filePermission": "0600"},
    {"objectName": "api", "objectType": "secret", "objectAlias": "conf/api.txt"},
    {"objectName": "web", "objectType": "secret", "split": "true"},
    {"objectName": "signing", "objectType": "key", "objectVersionHistory": "2"},
]


@pytest.fixture
def memory_dir() -> Iterator[Path]:
    parent = Path(tempfile.mkdtemp(prefix="kvfs-syncdir-", dir="/dev/shm"))
    parent.chmod(0o755)
    yield parent / "kv"
    shutil.rmtree(parent, ignore_errors=True)


@pytest.fixture
def filled_vault(vault: FakeVault) -> FakeVault:
    vault.set_secret("db", "db-v1")
    vault.set_secret("api", "api-v1")
    vault.import_certificate("web", make_chain("p256").pfx())
    vault.create_key("signing", "EC", crv="P-256")
    vault.create_key("signing", "EC", crv="P-256")
    return vault


def sync_dir_args(vault: FakeVault, spc: Path, target: Path, *extra: str) -> list[str]:
    return ["sync-dir", str(spc), str(target), "--vault-url", vault.vault_url, "--ca-file", str(vault.ca_file), *extra]


def write_class(vault: FakeVault, tmp_path: Path, objects: list[dict[str, object]], **kwargs: object) -> Path:
    spc = tmp_path / f"spc-{len(list(tmp_path.glob('spc-*')))}.yaml"
    spc.write_text(provider_class_yaml(objects, tenant_id=vault.tenant_id, client_id=vault.client_id, **kwargs))  # type: ignore[arg-type]
    return spc


def run_once(
    vault: FakeVault, spc: Path, target: Path, *extra: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kvfs", *sync_dir_args(vault, spc, target, "--once", *extra)],
        env=kvfs_env(vault, env), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def tree(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file an application reads under ``root`` (following the visible symlinks): bytes and mode."""
    found = {}
    for entry in sorted(os.listdir(root)):
        if entry.startswith(".."):
            continue
        path = root / entry
        if path.is_dir():
            for sub, (data, mode) in tree(path).items():
                found[f"{entry}/{sub}"] = (data, mode)
        else:
            found[entry] = (path.read_bytes(), stat.S_IMODE(path.stat().st_mode))
    return found


def test_the_files_are_the_mounts_bytes_and_modes(
    filled_vault: FakeVault, start_kvfs: MountFactory, mountpoint: Path, memory_dir: Path, tmp_path: Path
) -> None:
    spc = write_class(filled_vault, tmp_path, OBJECTS)
    result = run_once(filled_vault, spc, memory_dir)
    assert result.returncode == 0, result.stderr
    start_kvfs(OBJECTS)
    written, mounted = tree(memory_dir), tree(mountpoint)
    assert sorted(written) == ["conf/api.txt", "db", "signing/0", "signing/1", "web", "web.crt", "web.key"]
    assert written == mounted


def test_it_keeps_the_files_current_with_one_swap_per_change_hooks_after_and_sigterm_keeps_them(
    filled_vault: FakeVault, memory_dir: Path, tmp_path: Path
) -> None:
    vault = filled_vault
    spc = write_class(vault, tmp_path, OBJECTS)
    hook_log = tmp_path / "hooks"
    kvfs = KvfsProcess(
        sync_dir_args(vault, spc, memory_dir, "--rotation-poll-interval", "1h", "--uid", "1000", "--gid", "2000",
                      "--on-change-exec", f'echo "$KVFS_CHANGED $KVFS_MOUNTPOINT" >> {hook_log}'),
        kvfs_env(vault),
    )  # fmt: skip
    kvfs.wait_for_log("ready:", timeout=60)
    assert (memory_dir / "db").read_text() == "db-v1"
    folder = memory_dir / os.readlink(memory_dir / DATA)
    assert (folder / "db").stat().st_uid == 1000 and (folder / "db").stat().st_gid == 2000
    with INotify() as watcher:
        watcher.add_watch(str(memory_dir), inotify_flags.MOVED_TO)
        vault.set_secret("db", "db-v2")
        vault.set_secret("api", "api-v2")
        kvfs.process.send_signal(signal.SIGHUP)
        wait_for(lambda: hook_log.exists(), timeout=20, what="the hook after the swap")
        events = watcher.read(timeout=500)
    assert [e.name for e in events if e.mask & inotify_flags.MOVED_TO] == [DATA]  # one swap for both changes
    assert (memory_dir / "db").read_text() == "db-v2" and (memory_dir / "conf" / "api.txt").read_text() == "api-v2"
    assert hook_log.read_text().split() == ["conf/api.txt", "db", str(memory_dir)]
    assert kvfs.stop() == 0
    assert (memory_dir / "db").read_text() == "db-v2"  # SIGTERM leaves the last good content in place
    assert len([e for e in os.listdir(memory_dir) if e.startswith("..2")]) == 1


def test_once_exit_codes(filled_vault: FakeVault, memory_dir: Path, tmp_path: Path) -> None:
    vault = filled_vault
    good = write_class(vault, tmp_path, [{"objectName": "db", "objectType": "secret"}])
    assert run_once(vault, good, memory_dir).returncode == 0
    db, nope = {"objectName": "db", "objectType": "secret"}, {"objectName": "nope", "objectType": "secret"}
    missing = write_class(vault, tmp_path, [db, nope])
    failed = run_once(vault, missing, memory_dir)
    assert failed.returncode == 1 and "secret 'nope' was not found" in failed.stderr
    assert (memory_dir / "db").read_text() == "db-v1"  # the earlier version stays
    optional = write_class(vault, tmp_path, [db, {**nope, "optional": "true"}])
    assert run_once(vault, optional, memory_dir).returncode == 0


def test_a_directory_on_a_disk_or_holding_other_files_is_refused_before_any_network(
    filled_vault: FakeVault, memory_dir: Path, tmp_path: Path
) -> None:
    spc = write_class(filled_vault, tmp_path, [{"objectName": "db", "objectType": "secret"}])
    on_disk = tmp_path / "disk"
    refused = run_once(filled_vault, spc, on_disk)
    assert refused.returncode == 2
    assert (
        f"kvfs: error: {on_disk} is not in memory (tmpfs or ramfs)" in refused.stderr
        and "--allow-disk" in refused.stderr
    )
    assert not on_disk.exists()
    memory_dir.mkdir()
    (memory_dir / "notes.txt").write_text("mine")
    foreign = run_once(filled_vault, spc, memory_dir)
    assert foreign.returncode == 2 and "holds files kvfs did not write (notes.txt)" in foreign.stderr
    assert filled_vault.requests() == []
    allowed = run_once(filled_vault, spc, on_disk, "--allow-disk")
    assert allowed.returncode == 0 and (on_disk / "db").read_text() == "db-v1"
    assert "is not in memory: secrets are written to a disk (--allow-disk)" in allowed.stderr


def test_a_write_killed_halfway_is_cleaned_up_by_the_next_start(
    filled_vault: FakeVault, memory_dir: Path, tmp_path: Path
) -> None:
    spc = write_class(filled_vault, tmp_path, [{"objectName": "db", "objectType": "secret"}])
    assert run_once(filled_vault, spc, memory_dir).returncode == 0
    served = os.readlink(memory_dir / DATA)
    leftover = memory_dir / "..2026_01_01_00_00_00.12345"  # what a writer killed before its swap leaves
    leftover.mkdir()
    (leftover / "db").write_text("half-writ")
    os.symlink(leftover.name, memory_dir / "..data_tmp")
    filled_vault.set_secret("db", "db-v2")
    result = run_once(filled_vault, spc, memory_dir)
    assert result.returncode == 0, result.stderr
    assert "removed what an interrupted write left" in result.stderr
    assert sorted(e for e in os.listdir(memory_dir) if e.startswith("..")) == sorted(
        [DATA, os.readlink(memory_dir / DATA)]
    )
    assert os.readlink(memory_dir / DATA) != served
    assert (memory_dir / "db").read_text() == "db-v2"


def test_secret_sync_works_in_this_mode_too(
    filled_vault: FakeVault, kube: FakeKubeAPI, kubeconfig: Path, memory_dir: Path, tmp_path: Path
) -> None:
    spc = write_class(
        filled_vault, tmp_path, [{"objectName": "db", "objectType": "secret"}],
        secret_objects=[{"secretName": "db", "type": "Opaque", "data": [{"objectName": "db", "key": "password"}]}],
    )  # fmt: skip
    result = run_once(filled_vault, spc, memory_dir, "--kubeconfig", str(kubeconfig), "--namespace", DEFAULT_NAMESPACE)
    assert result.returncode == 0, result.stderr
    assert (memory_dir / "db").read_text() == "db-v1"
    secret = kube.secret(DEFAULT_NAMESPACE, "db")
    assert secret is not None and base64.b64decode(secret["data"]["password"]) == b"db-v1"


def test_reader_rules_are_refused_because_plain_files_cannot_enforce_them(
    filled_vault: FakeVault, memory_dir: Path, tmp_path: Path
) -> None:
    spc = write_class(filled_vault, tmp_path, [{"objectName": "db", "objectType": "secret", "allowedUids": [1000]}])
    refused = run_once(filled_vault, spc, memory_dir)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert refused.stderr.strip().splitlines()[-1] == (
        f'kvfs: error: {spc}: objects[0] (objectName "db"): allowedUids/allowedGids need kvfs mount, which checks '
        "every open; sync-dir writes plain files that any reader the mode bits allow can open"
    )
    assert not memory_dir.exists() and filled_vault.requests() == []

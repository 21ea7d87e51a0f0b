"""Who read which secret: the audit log and per-object readers on a real mount, with readers under other
uids (setpriv) and from different executables."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from kvfs.fakevault import FakeVault
from tests.helpers import KvfsProcess, is_live_mount, provider_class_yaml, wait_for
from tests.mount.conftest import MountFactory, kvfs_env
from tests.mount.test_observe import endpoint, samples, value
from tests.pki import make_chain

DB = {"objectName": "db-password", "objectType": "secret", "objectAlias": "conf/db.txt", "allowedUids": [1000]}
API = {"objectName": "api-key", "objectType": "secret"}
TEAM = {"objectName": "team-token", "objectType": "secret", "allowedGids": [2000]}


def as_user(uid: int, gid: int, *command: str, groups: str = "") -> subprocess.CompletedProcess[str]:
    """``command`` as uid/gid (with only ``groups`` as supplementary groups), its pid in ``args[0]``'s place."""
    group_args = ["--groups", groups] if groups else ["--clear-groups"]
    return subprocess.run(
        ["setpriv", f"--reuid={uid}", f"--regid={gid}", *group_args, *command],
        capture_output=True, text=True, check=False, cwd="/",
    )  # fmt: skip


def audit_lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def opens(path: Path) -> list[dict[str, object]]:
    return [line for line in audit_lines(path) if line["event"] == "open"]


def test_every_open_is_a_line_naming_file_object_version_caller_and_outcome(
    vault: FakeVault, start_kvfs: MountFactory, mountpoint: Path, tmp_path: Path
) -> None:
    db_version = vault.set_secret("db-password", "pg-s3cret")
    api_version = vault.set_secret("api-key", "api-s3cret")
    log = tmp_path / "audit.jsonl"
    kvfs = start_kvfs([DB, API], "--audit-log", str(log), "--audit-coalesce", "0", "--metrics-addr", "127.0.0.1:0")
    db, api = mountpoint / "conf" / "db.txt", mountpoint / "api-key"

    allowed = as_user(1000, 1000, "cat", str(db))
    assert allowed.returncode == 0 and allowed.stdout == "pg-s3cret", allowed.stderr
    other = as_user(1001, 1001, "cat", str(db))
    assert other.returncode == 1 and "Permission denied" in other.stderr
    root = subprocess.run(["cat", str(db)], capture_output=True, text=True, check=False)
    assert root.returncode == 1 and "Permission denied" in root.stderr  # root is not listed, so root is refused
    assert subprocess.run(["head", "-c", "3", str(api)], capture_output=True, check=True).stdout == b"api"
    assert stat.S_IMODE(db.stat().st_mode) == 0o644  # the rule is on top of the mode bits, not instead of them

    wait_for(lambda: len(opens(log)) == 4, what="four audit lines")
    lines = opens(log)
    cat, head = os.path.realpath(shutil.which("cat") or ""), os.path.realpath(shutil.which("head") or "")
    assert [(line["uid"], line["gid"], line["comm"], line["exe"], line["allowed"]) for line in lines] == [
        (1000, 1000, "cat", cat, True),
        (1001, 1001, "cat", cat, False),
        (0, 0, "cat", cat, False),
        (0, 0, "head", head, True),
    ]
    first = lines[0]
    assert (first["path"], first["alias"], first["object"], first["kind"], first["version"], first["count"]) == (
        "conf/db.txt", "conf/db.txt", "db-password", "secret", db_version, 1,
    )  # fmt: skip
    assert all(isinstance(line["pid"], int) and line["pid"] > 1 for line in lines)
    assert len({line["pid"] for line in lines}) == 4  # four processes
    assert lines[3]["path"] == "api-key" and lines[3]["version"] == api_version
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert "s3cret" not in log.read_text()

    base = endpoint(kvfs)
    assert value(base, "kvfs_file_opens_total", alias="conf/db.txt", outcome="ok") == 1
    assert value(base, "kvfs_file_opens_total", alias="conf/db.txt", outcome="denied") == 2
    assert value(base, "kvfs_file_opens_total", alias="api-key", outcome="ok") >= 1
    assert value(base, "kvfs_file_opens_denied_total") == 2
    assert value(base, "kvfs_audit_events_total") >= 4 and value(base, "kvfs_audit_opens_dropped_total") == 0
    assert kvfs.stop() == 0
    assert "s3cret" not in kvfs.stderr


def test_groups_open_by_primary_or_supplementary_group(
    vault: FakeVault, start_kvfs: MountFactory, mountpoint: Path
) -> None:
    vault.set_secret("team-token", "t0ken")
    start_kvfs([TEAM])
    token = str(mountpoint / "team-token")
    assert as_user(1000, 2000, "cat", token).stdout == "t0ken"  # primary group
    assert as_user(1000, 1000, "cat", token, groups="3000,2000").stdout == "t0ken"  # a supplementary group
    refused = as_user(1000, 1000, "cat", token, groups="3000")
    assert refused.returncode == 1 and "Permission denied" in refused.stderr
    assert (mountpoint / "team-token").stat().st_size == 5  # a refused reader still sees the file


READ_N_TIMES = textwrap.dedent("""
    import sys
    for _ in range(int(sys.argv[2])):
        with open(sys.argv[1], "rb") as f:
            f.read()
""")


def test_repeated_opens_by_one_process_are_one_line_with_a_count(
    vault: FakeVault, start_kvfs: MountFactory, mountpoint: Path, tmp_path: Path
) -> None:
    vault.set_secret("api-key", "api-s3cret")
    log = tmp_path / "audit.jsonl"
    kvfs = start_kvfs([API], "--audit-log", str(log), "--audit-coalesce", "2s", "--metrics-addr", "127.0.0.1:0")
    api = str(mountpoint / "api-key")
    started = time.monotonic()
    reader = subprocess.run([sys.executable, "-c", READ_N_TIMES, api, "50"], check=True)
    subprocess.run(["cat", api], capture_output=True, check=True)
    wait_for(lambda: len(opens(log)) == 2, what="the two windows to close", timeout=15)
    assert time.monotonic() - started >= 2  # written when the window closed, not at the first open
    python, cat = opens(log)
    assert python["count"] == 50 and python["comm"].startswith("python") and python["time"] <= python["last"]
    assert cat["count"] == 1 and "last" not in cat
    assert reader.returncode == 0 and python["pid"] != cat["pid"]
    assert value(endpoint(kvfs), "kvfs_audit_opens_coalesced_total") == 49
    subprocess.run(["cat", api], capture_output=True, check=True)  # open again, then unmount at once:
    assert kvfs.stop() == 0
    assert [line["comm"] for line in opens(log)] == [python["comm"], "cat", "cat"]  # the open window is written


BURST = textwrap.dedent("""
    import os, sys, time
    path, count = sys.argv[1], int(sys.argv[2])
    started = time.monotonic()
    for _ in range(count):
        fd = os.open(path, os.O_RDONLY)
        os.read(fd, 64)
        os.close(fd)
    print(f"{time.monotonic() - started:.3f}")
""")


def test_a_burst_against_a_stalled_audit_reader_never_blocks_a_read_and_counts_every_drop(
    vault: FakeVault, start_kvfs: MountFactory, mountpoint: Path, tmp_path: Path
) -> None:
    """100,000 opens, each its own line, into a pipe nobody reads (a log shipper that stopped)."""
    vault.set_secret("api-key", "api-s3cret")
    fifo = tmp_path / "audit.fifo"
    os.mkfifo(fifo, 0o600)
    stalled_reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # opened, never read
    try:
        kvfs = start_kvfs([API], "--audit-log", str(fifo), "--audit-coalesce", "0", "--metrics-addr", "127.0.0.1:0")
        base = endpoint(kvfs)
        burst = subprocess.run(
            [sys.executable, "-c", BURST, str(mountpoint / "api-key"), "100000"],
            capture_output=True, text=True, check=True, timeout=300,
        )  # fmt: skip
        now = samples(base)  # one scrape: the four figures from the same instant
        opened = now[("kvfs_file_opens_total", (("alias", "api-key"), ("outcome", "ok")))]
        written = now[("kvfs_audit_events_total", ())]
        pending = now[("kvfs_audit_events_pending", ())]
        dropped = now[("kvfs_audit_opens_dropped_total", ())]
        assert opened >= 100_000
        assert written + pending + dropped == opened  # every open is written, waiting, or counted as dropped
        assert dropped > 80_000  # the pipe holds a few hundred lines and the queue 10,000: the rest were dropped
        assert float(burst.stdout) < 120, burst.stdout
        # While the audit reader is stalled, reads go on at full speed: the mount still answers at once.
        assert (mountpoint / "api-key").read_bytes() == b"api-s3cret"
        assert kvfs.stop() == 0
    finally:
        os.close(stalled_reader)
    assert "opens not written at exit" in kvfs.stderr  # said, not hidden


def test_reader_rules_cover_every_file_an_object_serves(
    vault: FakeVault, start_kvfs: MountFactory, mountpoint: Path
) -> None:
    """Split files, version-history folders and pattern matches (fetched on first open) carry the rule too."""
    vault.import_certificate("web", make_chain("p256").pfx())
    vault.create_key("signing", "EC", crv="P-256")
    vault.create_key("signing", "EC", crv="P-256")
    vault.set_secret("team-a", "a-s3cret")
    vault.set_secret("team-b", "b-s3cret")
    start_kvfs([
        {"objectName": "web", "objectType": "secret", "split": "true", "allowedUids": [1000]},
        {"objectName": "signing", "objectType": "key", "objectVersionHistory": "2", "allowedUids": [1000]},
        {"objectNamePattern": "team-*", "objectType": "secret", "allowedUids": [1000]},
        {"objectName": "api-key", "objectType": "secret", "optional": "true"},
    ])  # fmt: skip
    files = ["web", "web.crt", "web.key", "signing/0", "signing/1", "team-a", "team-b"]
    for name in files:
        with pytest.raises(PermissionError):
            (mountpoint / name).read_bytes()
        reader = as_user(1000, 1000, "cat", str(mountpoint / name))
        assert reader.returncode == 0 and reader.stdout, (name, reader.stderr)
    assert as_user(1000, 1000, "cat", str(mountpoint / "team-b")).stdout == "b-s3cret"


def test_a_caller_outside_kvfs_pid_namespace_is_recorded_as_such(vault: FakeVault, tmp_path: Path) -> None:
    """A sidecar's readers live in another container: unless the pod shares its process namespace, FUSE
    reports pid 0 for them. kvfs runs in a PID namespace of its own here, and this test reads from outside."""
    vault.set_secret("api-key", "api-s3cret")
    spc = tmp_path / "spc.yaml"
    spc.write_text(provider_class_yaml([API], tenant_id=vault.tenant_id, client_id=vault.client_id))
    mountpoint, log = tmp_path / "mnt", tmp_path / "audit.jsonl"
    kvfs = KvfsProcess(
        ["mount", str(spc), str(mountpoint), "--vault-url", vault.vault_url, "--ca-file", str(vault.ca_file),
         "--audit-log", str(log), "--audit-coalesce", "0"],
        kvfs_env(vault), mountpoint, python=["unshare", "--pid", "--kill-child=SIGTERM", sys.executable],
    )  # fmt: skip
    try:
        kvfs.wait_ready()
        assert (mountpoint / "api-key").read_bytes() == b"api-s3cret"
        wait_for(lambda: len(opens(log)) == 1, what="the audit line")
        (line,) = opens(log)
        assert (line["uid"], line["pid"], line["comm"], line["exe"], line["allowed"]) == (0, None, None, None, True)
        assert line["process"] == "outside kvfs's PID namespace"
    finally:
        # unshare ignores SIGTERM while it waits for its child: stop kvfs itself, as a pod's runtime would.
        children = Path(f"/proc/{kvfs.process.pid}/task/{kvfs.process.pid}/children").read_text().split()
        for child in children:
            os.kill(int(child), signal.SIGTERM)
        assert kvfs.wait_exit(timeout=30) == 0, kvfs.stderr
    assert not is_live_mount(mountpoint)

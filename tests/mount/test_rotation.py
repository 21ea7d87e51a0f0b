"""Rotation on a real mount: new versions appear, applications are told, faults never cost content."""

from __future__ import annotations

import signal
from pathlib import Path

from kvfs.fakevault import FakeVault
from tests.helpers import wait_for
from tests.mount.conftest import MountFactory

INTERVAL = "1s"


def read(path: Path) -> str:
    return path.read_text()


def test_a_new_version_shows_up_within_two_intervals(
    vault: FakeVault, start_kvfs: MountFactory, mountpoint: Path
) -> None:
    vault.set_secret("db", "v1")
    start_kvfs([{"objectName": "db", "objectType": "secret"}], "--rotation-poll-interval", INTERVAL)
    path = mountpoint / "db"
    assert read(path) == "v1"
    before = path.stat()
    vault.set_secret("db", "version-two")
    wait_for(lambda: read(path) == "version-two", timeout=2 * 1.1 + 1, what="the new version")
    after = path.stat()
    assert after.st_size == len("version-two")
    assert after.st_ino != before.st_ino


def test_sighup_polls_at_once(vault: FakeVault, start_kvfs: MountFactory, mountpoint: Path) -> None:
    vault.set_secret("db", "v1")
    process = start_kvfs([{"objectName": "db", "objectType": "secret"}], "--rotation-poll-interval", "1h")
    vault.set_secret("db", "v2")
    process.process.send_signal(signal.SIGHUP)
    wait_for(lambda: read(mountpoint / "db") == "v2", timeout=5, what="SIGHUP to refresh")

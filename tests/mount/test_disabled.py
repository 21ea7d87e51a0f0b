"""Disabled keys and certificates on a real mount. Key Vault returns them (200, ``enabled: false``) where it
refuses a disabled secret (403); the provider serves them. kvfs serves no disabled version of any kind: at
start that is one line naming the object, in rotation the last enabled content stays, with a warning, and
version-history folders skip disabled versions."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from kvfs.fakevault import FakeVault
from tests.helpers import wait_for
from tests.mount.conftest import MountFactory
from tests.mount.test_rotation import GENEROUS
from tests.pki import make_chain

KEY = {"objectName": "signing", "objectType": "key"}
CERT = {"objectName": "web", "objectType": "cert"}


@pytest.mark.parametrize(("collection", "obj"), [("keys", KEY), ("certificates", CERT)], ids=["key", "cert"])
def test_a_disabled_key_or_certificate_fails_the_start_with_one_line_naming_it(
    vault: FakeVault, start_kvfs: MountFactory, mountpoint: Path, collection: str, obj: dict[str, object]
) -> None:
    vault.create_key("signing", "EC", crv="P-256", enabled=False)
    vault.import_certificate("web", make_chain("p256").pfx())
    vault.set_enabled("certificates", "web", enabled=False)
    process = start_kvfs([obj], wait=False)
    assert process.wait_exit() == 1
    last = process.stderr.strip().splitlines()[-1]
    assert last.startswith("kvfs: error:") and f"'{obj['objectName']}'" in last, last
    assert "is disabled in the vault (kvfs serves no disabled version of any kind)" in last
    assert "Traceback" not in process.stderr
    assert not os.path.ismount(mountpoint)


def test_a_key_and_certificate_disabled_later_keep_their_last_content_with_a_warning(
    vault: FakeVault, start_kvfs: MountFactory, mountpoint: Path
) -> None:
    vault.create_key("signing", "EC", crv="P-256")
    vault.import_certificate("web", make_chain("p256").pfx())
    kvfs = start_kvfs([KEY, CERT], "--rotation-poll-interval", "300ms")
    key_pem, cert_pem = (mountpoint / "signing").read_bytes(), (mountpoint / "web").read_bytes()
    vault.set_enabled("keys", "signing", enabled=False)
    vault.set_enabled("certificates", "web", enabled=False)
    wait_for(lambda: "signing" in kvfs.stderr and "web" in kvfs.stderr and kvfs.stderr.count("disabled") >= 2,
             timeout=GENEROUS, what="a warning for each")  # fmt: skip
    vault.clear_requests()
    wait_for(lambda: sum(1 for e in vault.requests() if e["path"].startswith("/keys?")) >= 3, what="3 more polls")
    assert (mountpoint / "signing").read_bytes() == key_pem and (mountpoint / "web").read_bytes() == cert_pem
    vault.create_key("signing", "EC", crv="P-256")  # a new, enabled version is served again
    wait_for(lambda: (mountpoint / "signing").read_bytes() != key_pem, timeout=GENEROUS, what="the new key")
    assert kvfs.stop() == 0
    for name in ("signing", "web"):
        assert len(re.findall(rf'WARNING .*objectName "{name}".*disabled', kvfs.stderr)) == 1, kvfs.stderr


def test_version_history_skips_disabled_key_versions(
    vault: FakeVault, start_kvfs: MountFactory, mountpoint: Path
) -> None:
    versions = [vault.create_key("signing", "EC", crv="P-256") for _ in range(3)]
    vault.set_enabled("keys", "signing", version=versions[1], enabled=False)
    start_kvfs([{**KEY, "objectVersionHistory": "3"}])
    assert sorted(os.listdir(mountpoint / "signing")) == ["0", "1"]  # the newest, then the oldest
    pinned = start_kvfs([{**KEY, "objectVersion": versions[1]}], wait=False, target=mountpoint.parent / "pinned")
    assert pinned.wait_exit() == 1
    assert f"version {versions[1]}" in pinned.stderr and "is disabled in the vault" in pinned.stderr

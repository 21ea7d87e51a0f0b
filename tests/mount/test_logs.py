"""JSON logs of a whole run (start, rotations, faults, hooks, stop) at debug level: every line is a JSON
object with the fields a pipeline expects, and none holds a secret value, a token or key material."""

from __future__ import annotations

import base64
import json
import signal
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from kvfs.fakevault import FakeVault
from tests.helpers import wait_for
from tests.mount.conftest import MountFactory
from tests.pki import make_chain

SECRET_VALUES = ("first-s3cret-value", "second-s3cret-value", "third-s3cret-value")


def test_every_line_of_a_whole_run_is_json_without_secret_material(
    vault: FakeVault, start_kvfs: MountFactory, mountpoint: Path, tmp_path: Path
) -> None:
    chain = make_chain("rsa")
    vault.set_secret("db", SECRET_VALUES[0])
    vault.import_certificate("web", chain.pfx())
    vault.create_key("signing", "EC", crv="P-256")
    kvfs = start_kvfs(
        [
            {"objectName": "db", "objectType": "secret"},
            {"objectName": "web", "objectType": "secret", "split": "true"},
            {"objectName": "signing", "objectType": "key"},
        ],
        "--log-format", "json", "--log-level", "debug", "--rotation-poll-interval", "1h",
        "--on-change-exec", "exit 3", "--on-change-webhook", "http://127.0.0.1:9/unreachable",
    )  # fmt: skip
    assert (mountpoint / "web").read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")

    vault.set_secret("db", SECRET_VALUES[1])  # a rotation; both hooks fail
    kvfs.process.send_signal(signal.SIGHUP)
    kvfs.wait_for_log('"hook": "webhook"')
    vault.add_fault(status=429, retry_after=1, count=1)  # a throttled poll, then an outage, then recovery
    kvfs.process.send_signal(signal.SIGHUP)
    kvfs.wait_for_log("429")
    vault.add_fault(status=503, count=2)
    vault.set_secret("db", SECRET_VALUES[2])
    kvfs.process.send_signal(signal.SIGHUP)
    wait_for(lambda: (mountpoint / "db").read_text() == SECRET_VALUES[2], timeout=30, what="recovery")
    assert kvfs.stop() == 0

    lines = kvfs.stderr.splitlines()
    assert len(lines) > 20
    entries = [json.loads(line) for line in lines]  # every line parses
    for entry in entries:
        assert {"time", "level", "logger", "message"} <= set(entry), entry
        assert entry["time"].endswith("Z") and entry["level"] in ("debug", "info", "warning", "error")
    messages = " ".join(e["message"] for e in entries)
    for phase in ("ready:", "new version", "applied new versions", "throttling", "SIGTERM received", "unmounted"):
        assert phase in messages, phase
    loaded = [e for e in entries if e["message"].endswith("loaded")]
    assert {e["object"] for e in loaded} == {"db", "web", "signing"}
    assert all(e["version"] and isinstance(e["duration"], float) for e in loaded)
    rotated = [e for e in entries if "new version" in e["message"] and e.get("object") == "db"]
    assert len(rotated) == 2 and all(len(e["version"]) == 32 for e in rotated)
    hooks = [e for e in entries if e.get("hook")]
    assert {e["hook"] for e in hooks} == {"exec", "webhook"} and all("duration" in e for e in hooks)

    text = kvfs.stderr
    for value in SECRET_VALUES:
        assert value not in text
    assert vault.token_file.read_text().strip() not in text  # the federated token
    assert "eyJ" not in text  # no JWT (access or federated token) in any form
    key_der = chain.leaf_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    assert base64.b64encode(key_der)[10:60].decode() not in text
    assert "PRIVATE KEY" not in text
    assert vault.get("secrets", "web")["value"][:60] not in text  # the stored PFX

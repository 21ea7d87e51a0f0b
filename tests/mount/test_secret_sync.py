"""A mount whose class has secretObjects also keeps Kubernetes Secrets: files first, then Secrets,
then hooks; a Kubernetes API outage never touches the files."""

from __future__ import annotations

import base64
import re
import shlex
import shutil
import signal
from pathlib import Path

from kvfs.fakevault import FakeVault
from tests.conftest import ADMIN_TOKEN
from tests.fakekube import DEFAULT_NAMESPACE, FakeKubeAPI
from tests.helpers import wait_for
from tests.mount.conftest import MountFactory

NS = DEFAULT_NAMESPACE
OBJECTS = [{"objectName": "db", "objectType": "secret", "objectAlias": "conf/db.txt"}]
SECRET_OBJECTS = [{"secretName": "db", "type": "Opaque", "data": [{"objectName": "conf/db.txt", "key": "password"}]}]


def secret_value(kube: FakeKubeAPI, name: str = "db", key: str = "password") -> bytes | None:
    secret = kube.secret(NS, name)
    return None if secret is None else base64.b64decode(secret["data"][key])


def writes(kube: FakeKubeAPI) -> list[dict]:
    return [r for r in kube.requests() if r["method"] in ("PATCH", "POST", "PUT")]


def test_the_secret_holds_the_bytes_the_mount_serves_and_follows_each_rotation_once(
    vault: FakeVault, kube: FakeKubeAPI, kubeconfig: Path, start_kvfs: MountFactory, mountpoint: Path
) -> None:
    vault.set_secret("db", "first-s3cret")
    kvfs = start_kvfs(
        OBJECTS,
        "--kubeconfig", str(kubeconfig), "--namespace", NS, "--rotation-poll-interval", "1h",
        secret_objects=SECRET_OBJECTS,
        env={"POD_NAME": "app-0", "POD_UID": "uid-app-0"},
    )  # fmt: skip
    wait_for(lambda: secret_value(kube) is not None, what="the Secret")
    assert secret_value(kube) == (mountpoint / "conf" / "db.txt").read_bytes() == b"first-s3cret"
    owners = kube.secret(NS, "db")["metadata"]["ownerReferences"]
    assert owners == [{"apiVersion": "v1", "kind": "Pod", "name": "app-0", "uid": "uid-app-0"}]

    kube.clear_requests()
    vault.set_secret("db", "second-s3cret")
    kvfs.process.send_signal(signal.SIGHUP)
    wait_for(lambda: secret_value(kube) == b"second-s3cret", what="the new version in the Secret")
    assert (mountpoint / "conf" / "db.txt").read_bytes() == b"second-s3cret"
    assert len(writes(kube)) == 1
    assert kvfs.stop() == 0
    assert "s3cret" not in kvfs.stderr  # no value in any log line


def test_files_change_before_the_secret_and_hooks_run_after_both(
    vault: FakeVault, kube: FakeKubeAPI, kubeconfig: Path, start_kvfs: MountFactory, mountpoint: Path, tmp_path: Path
) -> None:
    """The hook looks at the file and at the Secret (with the real kubectl): both are already new."""
    admin = kube.write_kubeconfig(tmp_path / "admin", token=ADMIN_TOKEN, namespace=NS)
    kubectl = shutil.which("kubectl") or "/usr/bin/kubectl"
    seen = tmp_path / "seen"
    get_secret = (
        f"HOME={shlex.quote(str(tmp_path))} {kubectl} --kubeconfig={shlex.quote(str(admin))} "
        "get secret db -o jsonpath={.data.password}"
    )
    hook = (
        f'{{ cat "$KVFS_MOUNTPOINT/conf/db.txt"; echo; {get_secret} | base64 -d; echo; }} >> {shlex.quote(str(seen))}'
    )
    vault.set_secret("db", "v1")
    kvfs = start_kvfs(
        OBJECTS,
        "--kubeconfig", str(kubeconfig), "--namespace", NS, "--rotation-poll-interval", "1h",
        "--on-change-exec", hook,
        secret_objects=SECRET_OBJECTS,
    )  # fmt: skip
    wait_for(lambda: secret_value(kube) == b"v1", what="the first Secret")
    vault.set_secret("db", "v2")
    kvfs.process.send_signal(signal.SIGHUP)
    wait_for(lambda: seen.exists() and len(seen.read_text().splitlines()) >= 2, what="the hook", timeout=30)
    assert seen.read_text().splitlines() == ["v2", "v2"]
    assert kvfs.stop() == 0


def test_an_api_server_outage_never_touches_the_mount_and_is_logged_once(
    vault: FakeVault, kube: FakeKubeAPI, kubeconfig: Path, start_kvfs: MountFactory, mountpoint: Path
) -> None:
    vault.set_secret("db", "v1")
    kube.stop()
    kvfs = start_kvfs(
        OBJECTS,
        "--kubeconfig", str(kubeconfig), "--namespace", NS, "--rotation-poll-interval", "1s",
        secret_objects=SECRET_OBJECTS,
    )  # fmt: skip
    assert (mountpoint / "conf" / "db.txt").read_bytes() == b"v1"  # mounted and serving while the API is down
    kvfs.wait_for_log("cannot reach the Kubernetes API")
    vault.set_secret("db", "v2")  # rotation goes on; the files follow the vault
    wait_for(lambda: (mountpoint / "conf" / "db.txt").read_bytes() == b"v2", what="rotation during the outage")
    kube.start()
    wait_for(lambda: secret_value(kube) == b"v2", what="the Secret once the API is back", timeout=30)
    # The server holds the Secret before the daemon has read the reply: wait for the daemon's side too.
    kvfs.wait_for_log("the earlier failure is over")
    assert kvfs.stop() == 0
    assert kvfs.stderr.count("cannot reach the Kubernetes API") == 1, kvfs.stderr  # however many attempts failed
    failures = re.search(r"secrets: .*failures: kubernetes (\d+)", kvfs.stderr)
    assert failures is not None and int(failures.group(1)) >= 2, kvfs.stderr


def test_no_sync_secrets_mounts_without_touching_kubernetes(
    vault: FakeVault, kube: FakeKubeAPI, start_kvfs: MountFactory, mountpoint: Path
) -> None:
    vault.set_secret("db", "v1")
    kvfs = start_kvfs(OBJECTS, "--no-sync-secrets", secret_objects=SECRET_OBJECTS)
    assert (mountpoint / "conf" / "db.txt").read_bytes() == b"v1"
    assert kvfs.stop() == 0
    assert kube.requests() == []
    assert "--no-sync-secrets: the class's 1 secretObjects are not synced" in kvfs.stderr


def test_a_class_with_secret_objects_and_no_kubernetes_is_refused_before_any_network(
    vault: FakeVault, start_kvfs: MountFactory
) -> None:
    kvfs = start_kvfs(OBJECTS, secret_objects=SECRET_OBJECTS, wait=False)
    assert kvfs.wait_exit() == 2
    assert "no Kubernetes API is configured" in kvfs.stderr and "--no-sync-secrets" in kvfs.stderr
    assert vault.requests() == []


def test_a_secret_made_from_a_pattern_match_gets_its_content(
    vault: FakeVault, kube: FakeKubeAPI, kubeconfig: Path, start_kvfs: MountFactory, mountpoint: Path
) -> None:
    """A mount serves pattern matches lazily, except when a synced Secret needs one: then it holds content."""
    vault.set_secret("db-main", "from-a-match")
    kvfs = start_kvfs(
        [{"objectNamePattern": "db-*", "objectType": "secret"}],
        "--kubeconfig", str(kubeconfig), "--namespace", NS, "--rotation-poll-interval", "1h",
        secret_objects=[{"secretName": "db", "type": "Opaque", "data": [{"objectName": "db-main", "key": "password"}]}],
    )  # fmt: skip
    wait_for(lambda: secret_value(kube) is not None, what="the Secret")
    assert secret_value(kube) == b"from-a-match"
    assert (mountpoint / "db-main").stat().st_size == len("from-a-match")  # fetched at start, not on open
    kvfs.wait_for_log("every match is fetched at start")

"""kvfs as a real sidecar: two containers sharing a volume with mount propagation (podman + runc).

kvfs's image is built from containers/Containerfile.test, i.e. by the published Dockerfile's install script.
The fake vault runs on the host (containers use the host network). kvfs's container mounts into the volume
with ``rshared`` (Bidirectional), the application's sees it with ``rslave`` (HostToContainer), as in
containers/kubernetes/sidecar.yaml. The pod is set up once for the module; every test starts from a running,
ready kvfs, and runs in file order: reads, rotation, stop + start, a killed sidecar replaced, the final stop.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from kvfs.fakevault import FakeVault
from tests.containers.podman import (
    BASE_IMAGE,
    AppContainer,
    KvfsContainer,
    build_test_image,
    fuse_mounts_under,
    missing_tools,
    shared_directory,
)
from tests.helpers import provider_class_yaml, wait_for
from tests.pki import Chain, make_chain

pytestmark = [pytest.mark.containers, pytest.mark.timeout(300)]

SECRETS = {"db-password": "hunter2", "api-token": "t0k-3n", "feature-flags": '{"beta": true}'}
OBJECTS: list[dict[str, object]] = [
    {"objectName": "db-password", "objectType": "secret"},
    {"objectName": "api-token", "objectType": "secret"},
    {"objectName": "feature-flags", "objectType": "secret", "objectAlias": "conf/flags.json"},
    {"objectName": "signing", "objectType": "key", "objectAlias": "signing.pub"},
    {"objectName": "web", "objectType": "cert", "objectAlias": "web.crt"},
    {"objectName": "web", "objectType": "secret", "objectAlias": "web.pem"},
]
SECRET_FILES = {"db-password": "db-password", "api-token": "api-token", "conf/flags.json": "feature-flags"}
KVFS_ARGS = ["--rotation-poll-interval", "1s", "--uid", "1000", "--gid", "1000"]


@dataclass
class Pod:
    image: str
    vault: FakeVault
    volume: Path
    spc: Path
    chain: Chain
    app: AppContainer
    kvfs: KvfsContainer = field(init=False)
    every_kvfs: list[KvfsContainer] = field(default_factory=list)

    def run_kvfs(self) -> None:
        """A new kvfs container (what the kubelet does to restart a sidecar), ready."""
        self.kvfs = KvfsContainer(self.image, self.volume, self.spc, self.vault, KVFS_ARGS)
        self.every_kvfs.append(self.kvfs)
        self.kvfs.run()
        self.kvfs.wait_ready()

    def ensure_ready(self) -> None:
        """Whatever an earlier test left: kvfs running and mounted."""
        state = self.kvfs.state()
        if state == "running":
            self.kvfs.wait_ready()
        elif state in ("exited", "stopped", "created"):
            self.kvfs.start()
            self.kvfs.wait_ready()
        else:
            self.run_kvfs()

    def remove_all(self) -> None:
        for container in [*self.every_kvfs, self.app]:
            container.remove()


@pytest.fixture(scope="module")
def image() -> str:
    problem = missing_tools()
    if problem:
        pytest.fail(f"cannot run kvfs's container tests: {problem}", pytrace=False)
    return build_test_image()


@pytest.fixture(scope="module")
def pod(image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pod]:
    tmp = tmp_path_factory.mktemp("sidecar")
    chain = make_chain()
    with FakeVault(state_dir=tmp / "vault") as vault, ExitStack() as cleanup:
        for name, value in SECRETS.items():
            vault.set_secret(name, value)
        vault.create_key("signing", "RSA", size=2048)
        vault.import_certificate("web", chain.pem(), content_type="application/x-pem-file")
        spc = tmp / "spc.yaml"
        spc.write_text(provider_class_yaml(OBJECTS, tenant_id=vault.tenant_id, client_id=vault.client_id))
        volume = cleanup.enter_context(shared_directory(tmp))  # unmounted last: after the containers are gone
        the_pod = Pod(image, vault, volume, spc, chain, AppContainer(BASE_IMAGE, volume))
        cleanup.callback(the_pod.remove_all)
        the_pod.run_kvfs()  # a native sidecar: kvfs is ready before the application starts
        the_pod.app.run()
        yield the_pod


def app_files(pod: Pod) -> dict[str, bytes]:
    seen = pod.app.read_all()
    assert "files" in seen, f"the application cannot read the mount: {seen}"
    files = seen["files"]
    assert isinstance(files, dict)
    return {path: base64.b64decode(data) for path, data in files.items()}


def assert_app_reads_every_object(pod: Pod) -> None:
    files = app_files(pod)
    assert sorted(files) == sorted([*SECRET_FILES, "signing.pub", "web.crt", "web.pem"])
    for path, name in SECRET_FILES.items():
        assert files[path] == pod.vault.get("secrets", name)["value"].encode(), path
    public_key = serialization.load_pem_public_key(files["signing.pub"])
    assert isinstance(public_key, rsa.RSAPublicKey)
    jwk = pod.vault.get("keys", "signing")["key"]
    assert public_key.public_numbers().n == int.from_bytes(base64.urlsafe_b64decode(jwk["n"] + "=="), "big")
    assert x509.load_pem_x509_certificates(files["web.crt"]) == [pod.chain.leaf]
    assert files["web.pem"] == pod.vault.get("secrets", "web")["value"].encode()
    key = serialization.load_pem_private_key(files["web.pem"], password=None)
    assert key.public_key() == pod.chain.leaf_key.public_key()


def assert_clean_stop(pod: Pod) -> None:
    """``podman stop``: SIGTERM; kvfs unmounts and exits 0; nothing is left mounted, anywhere."""
    code = pod.kvfs.stop()
    assert code == 0, f"kvfs exited with {code} on SIGTERM:\n{pod.kvfs.logs()}"
    assert fuse_mounts_under(pod.volume) == [], "a FUSE mount outlived kvfs on the host"
    assert [m for m in pod.app.mounts() if m[1].startswith("fuse")] == [], "a FUSE mount outlived kvfs in the app"
    assert pod.app.read_all() == {"files": {}}, "the application should see the empty mountpoint"


def test_app_reads_every_object(pod: Pod) -> None:
    pod.ensure_ready()
    assert_app_reads_every_object(pod)


def test_rotation_reaches_the_app(pod: Pod) -> None:
    pod.ensure_ready()
    new_value = f"rotated-{uuid.uuid4().hex}"
    pod.vault.set_secret("db-password", new_value)
    wait_for(
        lambda: app_files(pod)["db-password"] == new_value.encode(),
        timeout=30,
        interval=0.2,
        what="the new version in the application's container",
    )
    assert_app_reads_every_object(pod)


def test_stop_unmounts_and_start_serves_again(pod: Pod) -> None:
    pod.ensure_ready()
    assert_clean_stop(pod)
    pod.kvfs.start()
    pod.kvfs.wait_ready()
    assert_app_reads_every_object(pod)


def test_killed_sidecar_is_replaced_without_a_stale_mount(pod: Pod) -> None:
    pod.ensure_ready()
    pod.kvfs.kill("KILL")
    # What a crash leaves: the mount outlives the daemon, and the application gets ENOTCONN.
    assert fuse_mounts_under(pod.volume) == [str(pod.kvfs.mountpoint)]
    assert pod.app.read_all() == {"error": "ENOTCONN"}
    pod.kvfs.remove()
    pod.run_kvfs()  # kvfs detaches the stale mount before mounting
    assert fuse_mounts_under(pod.volume) == [str(pod.kvfs.mountpoint)], "mounts stacked on the host"
    assert [m for m in pod.app.mounts() if m[1].startswith("fuse")] == [("/kv/secrets", "fuse.kvfs")]
    assert_app_reads_every_object(pod)


def test_tini_reaps_what_a_hook_leaves_behind(pod: Pod) -> None:
    """A hook that backgrounds a process orphans it; in the image, tini (PID 1) reaps it, kvfs never sees it."""
    hooked = KvfsContainer(
        pod.image, pod.volume, pod.spc, pod.vault, [*KVFS_ARGS, "--on-change-exec", "sleep 0.2 &"], subdir="hooked"
    )
    pod.every_kvfs.append(hooked)
    hooked.run()
    hooked.wait_ready()
    for round_ in range(3):
        pod.vault.set_secret("api-token", f"hooked-{round_}")
        wait_for(
            lambda r=round_: (hooked.mountpoint / "api-token").read_text() == f"hooked-{r}",
            timeout=30, interval=0.1, what="the change (and its hook)",
        )  # fmt: skip

    def sleeps_over() -> bool:  # gone (reaped) or zombies (not reaped): either way no longer running
        return all(state == "Z" for _, cmd, state in hooked.processes() if cmd == "sleep")

    wait_for(sleeps_over, timeout=15, what="the hooks' sleeps to end")
    processes = hooked.processes()
    assert [state for _, _, state in processes if state == "Z"] == [], processes
    assert {1: "tini"}.items() <= {pid: cmd for pid, cmd, _ in processes}.items()
    assert hooked.stop() == 0


def test_sigterm_leaves_no_mount(pod: Pod) -> None:
    pod.ensure_ready()
    assert_clean_stop(pod)

"""``kvfs sync``: Kubernetes Secrets from the class, no mount, against the fake vault and the fake API
server, cross-checked with the real kubectl. kvfs talks to both through its real clients (the Azure
SDK, lightkube)."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from kvfs.content.pem import pem_blocks
from kvfs.fakevault import FakeVault
from tests.fakekube import DEFAULT_NAMESPACE, DEFAULT_TOKEN, DEFAULT_USER, FakeKubeAPI
from tests.helpers import KvfsProcess, provider_class_yaml, wait_for
from tests.pki import make_chain, pem_of

NS = DEFAULT_NAMESPACE
Kubectl = Callable[..., subprocess.CompletedProcess[str]]


class Sync:
    """Runs ``kvfs sync`` against the two fakes."""

    def __init__(self, vault: FakeVault, kube: FakeKubeAPI, kubeconfig: Path, tmp_path: Path) -> None:
        self.vault, self.kube, self.kubeconfig, self.tmp_path = vault, kube, kubeconfig, tmp_path
        self.classes = 0

    def args(self, objects: list[dict[str, object]], secret_objects: list[dict[str, object]], *extra: str) -> list[str]:
        self.classes += 1
        spc = self.tmp_path / f"spc-{self.classes}.yaml"
        text = provider_class_yaml(
            objects, tenant_id=self.vault.tenant_id, client_id=self.vault.client_id, secret_objects=secret_objects
        )
        spc.write_text(text)
        return [
            "sync", str(spc), "--vault-url", self.vault.vault_url, "--ca-file", str(self.vault.ca_file),
            "--kubeconfig", str(self.kubeconfig), "--namespace", NS, *extra,
        ]  # fmt: skip

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        env = {**os.environ, **self.vault.workload_identity_env(), **(extra or {})}
        for name in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST", "POD_NAME", "POD_UID", "POD_NAMESPACE"):
            if extra is None or name not in extra:
                env.pop(name, None)
        return env

    def once(
        self, objects: list[dict[str, object]], secret_objects: list[dict[str, object]], *extra: str,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:  # fmt: skip
        return subprocess.run(
            [sys.executable, "-m", "kvfs", *self.args(objects, secret_objects, "--once", *extra)],
            env=self.env(env), capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip

    def start(
        self, objects: list[dict[str, object]], secret_objects: list[dict[str, object]], *extra: str,
        env: Mapping[str, str] | None = None,
    ) -> KvfsProcess:  # fmt: skip
        process = KvfsProcess(self.args(objects, secret_objects, *extra), self.env(env))
        process.wait_for_log("ready:", timeout=60)
        return process


@pytest.fixture
def sync(vault: FakeVault, kube: FakeKubeAPI, kubeconfig: Path, tmp_path: Path) -> Sync:
    return Sync(vault, kube, kubeconfig, tmp_path)


def data_of(kubectl: Kubectl, name: str) -> dict[str, bytes]:
    """What kubectl reads of a Secret's data, decoded."""
    result = kubectl("get", "secret", name, "-o", "json")
    assert result.returncode == 0, result.stderr
    return {k: base64.b64decode(v) for k, v in json.loads(result.stdout).get("data", {}).items()}


def object_of(kubectl: Kubectl, name: str) -> dict[str, Any]:
    result = kubectl("get", "secret", name, "-o", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def writes(kube: FakeKubeAPI) -> list[dict[str, Any]]:
    return [r for r in kube.requests() if r["method"] in ("PATCH", "POST", "PUT")]


def completed_polls(kvfs: KvfsProcess, vault: FakeVault, count: int) -> None:
    """Make kvfs poll ``count`` times and wait until they are over: polls run one after another, so
    the poll after them having listed the vault means they are done."""
    vault.clear_requests()
    for done in range(count + 1):
        kvfs.process.send_signal(signal.SIGHUP)
        wait_for(lambda n=done: list_calls(vault) > n, what=f"poll {done + 1}")


def list_calls(vault: FakeVault) -> int:
    return sum(1 for r in vault.requests() if r["path"].startswith("/secrets?") and r["status"] == 200)


def one_error_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    (line,) = [line for line in stderr.splitlines() if line.startswith("kvfs: error:")] or [""]
    return line


# -- every Secret type, written as the driver writes it ----------------------------------------------


def test_sync_once_writes_every_secret_type_as_kubectl_reads_it(
    vault: FakeVault, sync: Sync, kube: FakeKubeAPI, admin_kubectl: Kubectl
) -> None:
    pem_chain, pfx_chain = make_chain("rsa"), make_chain("p256")
    vault.import_certificate("web-pem", pem_chain.pem(), content_type="application/x-pem-file")
    vault.import_certificate("web-pfx", pfx_chain.pfx())
    vault.set_secret("db-password", "s3cr3t-✓")
    docker = json.dumps({"auths": {"registry.example": {"auth": base64.b64encode(b"u:p").decode()}}})
    vault.set_secret("registry", docker)
    vault.set_secret("ssh-key", "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----\n")
    vault.set_secret("api-user", "robot")
    vault.set_secret("binary", base64.b64encode(b"\x00\x01\xfe\xff").decode())
    objects = [
        {"objectName": "web-pem", "objectType": "secret", "objectAlias": "tls/web.pem"},
        {"objectName": "web-pfx", "objectType": "secret", "objectFormat": "pfx", "objectEncoding": "base64",
         "objectAlias": "web.pfx"},
        {"objectName": "db-password", "objectType": "secret"},
        {"objectName": "registry", "objectType": "secret"},
        {"objectName": "ssh-key", "objectType": "secret"},
        {"objectName": "api-user", "objectType": "secret"},
        {"objectName": "binary", "objectType": "secret", "objectEncoding": "base64"},
    ]  # fmt: skip
    secret_objects = [
        {"secretName": "web-pem", "type": "kubernetes.io/tls", "labels": {"team": "web"},
         "annotations": {"owner": "platform"},
         "data": [{"objectName": "tls/web.pem", "key": "tls.crt"}, {"objectName": "tls/web.pem", "key": "tls.key"}]},
        {"secretName": "web-pfx", "type": "kubernetes.io/tls",
         "data": [{"objectName": "web.pfx", "key": "tls.crt"}, {"objectName": "web.pfx", "key": "tls.key"}]},
        {"secretName": "db", "type": "Opaque", "data": [{"objectName": "db-password", "key": "password"},
                                                        {"objectName": "binary", "key": "blob"}]},
        {"secretName": "pull", "type": "kubernetes.io/dockerconfigjson",
         "data": [{"objectName": "registry", "key": ".dockerconfigjson"}]},
        {"secretName": "ssh", "type": "kubernetes.io/ssh-auth",
         "data": [{"objectName": "ssh-key", "key": "ssh-privatekey"}]},
        {"secretName": "basic", "type": "kubernetes.io/basic-auth",
         "data": [{"objectName": "api-user", "key": "username"},
                  {"objectName": "db-password", "key": "password"}]},
        {"secretName": "custom", "type": "example.com/custom", "data": [{"objectName": "api-user", "key": "who"}]},
    ]  # fmt: skip
    result = sync.once(objects, secret_objects)
    assert result.returncode == 0, result.stderr

    web = data_of(admin_kubectl, "web-pem")
    assert web["tls.crt"] == b"".join(pem_of(c) for c in pem_chain.leaf_first)
    assert [b.type for b in pem_blocks(web["tls.key"])] == ["RSA PRIVATE KEY"]
    key = serialization.load_pem_private_key(web["tls.key"], None)
    assert key.public_key() == pem_chain.leaf.public_key()
    pfx = data_of(admin_kubectl, "web-pfx")
    assert pem_blocks(pfx["tls.crt"])[0].der == pem_blocks(pem_of(pfx_chain.leaf))[0].der
    assert [b.type for b in pem_blocks(pfx["tls.key"])] == ["EC PRIVATE KEY"]
    assert data_of(admin_kubectl, "db") == {"password": "s3cr3t-✓".encode(), "blob": b"\x00\x01\xfe\xff"}
    assert data_of(admin_kubectl, "pull") == {".dockerconfigjson": docker.encode()}
    assert data_of(admin_kubectl, "ssh")["ssh-privatekey"].startswith(b"-----BEGIN OPENSSH PRIVATE KEY-----")
    assert data_of(admin_kubectl, "basic") == {"username": b"robot", "password": "s3cr3t-✓".encode()}
    assert data_of(admin_kubectl, "custom") == {"who": b"robot"}

    types = {s["metadata"]["name"]: s["type"] for s in kube.secrets(NS)}
    assert types == {
        "web-pem": "kubernetes.io/tls", "web-pfx": "kubernetes.io/tls", "db": "Opaque",
        "pull": "kubernetes.io/dockerconfigjson", "ssh": "kubernetes.io/ssh-auth",
        "basic": "kubernetes.io/basic-auth", "custom": "example.com/custom",
    }  # fmt: skip
    labelled = admin_kubectl("get", "secrets", "-l", "secrets-store.csi.k8s.io/managed=true", "-o", "name")
    assert sorted(labelled.stdout.split()) == sorted(f"secret/{name}" for name in types)
    meta = object_of(admin_kubectl, "web-pem")["metadata"]
    assert meta["labels"] == {"team": "web", "secrets-store.csi.k8s.io/managed": "true"}
    assert meta["annotations"] == {"owner": "platform"}
    assert "ownerReferences" not in meta  # no POD_NAME/POD_UID here
    assert "no POD_NAME/POD_UID" in result.stderr
    applies = [r for r in writes(kube) if r["content_type"] == "application/apply-patch+yaml"]
    assert len(applies) == len(types) and all(r["field_manager"] == "kvfs" for r in applies)
    for value in ("s3cr3t", "robot", "abc"):
        assert value not in result.stderr


# -- rotation reaches the Secrets, once, and only when something changed ---------------------------


def test_rotation_updates_each_secret_using_a_changed_object_once_and_nothing_else(
    vault: FakeVault, sync: Sync, kube: FakeKubeAPI, admin_kubectl: Kubectl
) -> None:
    for name in ("a", "b", "c"):
        vault.set_secret(name, f"{name}-1")
    objects = [{"objectName": n, "objectType": "secret"} for n in ("a", "b", "c")]
    secret_objects = [
        {"secretName": "uses-a", "type": "Opaque", "data": [{"objectName": "a", "key": "a"}]},
        {"secretName": "uses-a-and-b", "type": "Opaque",
         "data": [{"objectName": "a", "key": "a"}, {"objectName": "b", "key": "b"}]},
        {"secretName": "uses-c", "type": "Opaque", "data": [{"objectName": "c", "key": "c"}]},
    ]  # fmt: skip
    kvfs = sync.start(objects, secret_objects, "--rotation-poll-interval", "1h")
    assert data_of(admin_kubectl, "uses-a-and-b") == {"a": b"a-1", "b": b"b-1"}

    kube.clear_requests()  # idle polls: no API call at all
    completed_polls(kvfs, vault, 2)
    assert kube.requests() == []

    vault.set_secret("a", "a-2")
    kvfs.process.send_signal(signal.SIGHUP)
    wait_for(lambda: data_of(admin_kubectl, "uses-a-and-b").get("a") == b"a-2", what="the new version in the Secret")
    wait_for(lambda: data_of(admin_kubectl, "uses-a").get("a") == b"a-2", what="the other Secret using a")
    patched = sorted(r["path"].rsplit("/", 1)[-1] for r in writes(kube))
    assert patched == ["uses-a", "uses-a-and-b"]  # one apply each; uses-c untouched
    assert data_of(admin_kubectl, "uses-c") == {"c": b"c-1"}
    assert kvfs.stop() == 0
    assert "a-2" not in kvfs.stderr and "a-1" not in kvfs.stderr


def test_reader_rules_do_not_reach_secrets_and_sync_says_so(
    vault: FakeVault, sync: Sync, admin_kubectl: Kubectl
) -> None:
    vault.set_secret("db", "db-1")
    objects: list[dict[str, object]] = [{"objectName": "db", "objectType": "secret", "allowedUids": [1000]}]
    secret_objects: list[dict[str, object]] = [
        {"secretName": "db", "type": "Opaque", "data": [{"objectName": "db", "key": "password"}]}
    ]
    result = sync.once(objects, secret_objects)
    assert result.returncode == 0, result.stderr
    warning = 'objects[0] (objectName "db"): allowedUids/allowedGids do not reach the Kubernetes Secret db'
    assert warning in result.stderr
    assert data_of(admin_kubectl, "db") == {"password": b"db-1"}


# -- garbage collection: every consuming pod owns the Secret ----------------------------------------


def test_two_pods_syncing_one_secret_both_own_it(
    vault: FakeVault, sync: Sync, kube: FakeKubeAPI, admin_kubectl: Kubectl
) -> None:
    vault.set_secret("db", "v1")
    objects = [{"objectName": "db", "objectType": "secret"}]
    secret_objects = [{"secretName": "db", "type": "Opaque", "data": [{"objectName": "db", "key": "password"}]}]
    first = sync.once(objects, secret_objects, env={"POD_NAME": "web-1", "POD_UID": "uid-1"})
    assert first.returncode == 0, first.stderr
    second = sync.once(objects, secret_objects, env={"POD_NAME": "web-2", "POD_UID": "uid-2"})
    assert second.returncode == 0, second.stderr
    vault.set_secret("db", "v2")  # the first pod writes again (a rotation): the second's reference stays
    again = sync.once(objects, secret_objects, env={"POD_NAME": "web-1", "POD_UID": "uid-1"})
    assert again.returncode == 0, again.stderr

    meta = object_of(admin_kubectl, "db")["metadata"]
    assert meta["ownerReferences"] == [
        {"apiVersion": "v1", "kind": "Pod", "name": "web-1", "uid": "uid-1"},
        {"apiVersion": "v1", "kind": "Pod", "name": "web-2", "uid": "uid-2"},
    ]
    assert data_of(admin_kubectl, "db") == {"password": b"v2"}


# -- errors that say what to do ---------------------------------------------------------------------


def test_forbidden_names_the_missing_verb_and_prints_the_role_rule(
    vault: FakeVault, sync: Sync, kube: FakeKubeAPI
) -> None:
    kube.deny_all(DEFAULT_USER)
    kube.allow(DEFAULT_USER, NS, "secrets", ("get", "patch"))  # no create: the first apply is refused
    vault.set_secret("db", "v1")
    result = sync.once(
        [{"objectName": "db", "objectType": "secret"}],
        [{"secretName": "db", "type": "Opaque", "data": [{"objectName": "db", "key": "password"}]}],
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    (line,) = [line for line in result.stderr.splitlines() if "403 Forbidden" in line]
    assert f'kvfs\'s identity may not create secrets in namespace "{NS}" (403 Forbidden)' in line
    assert 'verbs: ["get", "create", "patch"]' in line
    assert "1 of 1 Secrets could not be written" in result.stderr
    assert kube.secret(NS, "db") is None
    assert len([r for r in writes(kube) if r["status"] == 403]) == 1  # not retried: only a person can fix it

    kube.allow(DEFAULT_USER, NS, "secrets", ("get", "create", "patch"))  # with the rule it asks for, it works
    assert (
        sync.once(
            [{"objectName": "db", "objectType": "secret"}],
            [{"secretName": "db", "type": "Opaque", "data": [{"objectName": "db", "key": "password"}]}],
        ).returncode
        == 0
    )


def test_a_forbidden_patch_names_the_user_and_verb_from_the_api_servers_answer(
    vault: FakeVault, sync: Sync, kube: FakeKubeAPI
) -> None:
    kube.create_secret(NS, "db", {"password": b"old"})
    kube.deny_all(DEFAULT_USER)
    kube.allow(DEFAULT_USER, NS, "secrets", ("get",))
    vault.set_secret("db", "v1")
    result = sync.once(
        [{"objectName": "db", "objectType": "secret"}],
        [{"secretName": "db", "type": "Opaque", "data": [{"objectName": "db", "key": "password"}]}],
    )
    assert result.returncode == 1
    assert f'{DEFAULT_USER} may not patch secrets in namespace "{NS}" (403 Forbidden)' in result.stderr


def test_a_refused_token_is_read_again_once(vault: FakeVault, sync: Sync, kube: FakeKubeAPI, tmp_path: Path) -> None:
    """In a pod, kvfs reads the projected service-account token; kubelet rotates it. A 401 makes kvfs
    read the file again and retry once: a rotated token works, a refused one is a clear error."""
    vault.set_secret("db", "v1")
    objects = [{"objectName": "db", "objectType": "secret"}]
    secret_objects = [{"secretName": "db", "type": "Opaque", "data": [{"objectName": "db", "key": "password"}]}]
    sa_dir = tmp_path / "serviceaccount"
    in_cluster = {**kube.write_service_account(sa_dir, token=DEFAULT_TOKEN, namespace=NS)}
    in_cluster["KVFS_SERVICE_ACCOUNT_DIR"] = str(sa_dir)
    sync.kubeconfig = None  # type: ignore[assignment]

    def in_cluster_args(*extra: str) -> list[str]:
        args = sync.args(objects, secret_objects, *extra)
        at = args.index("--kubeconfig")
        return args[:at] + args[at + 2 :]

    kvfs = KvfsProcess(in_cluster_args("--rotation-poll-interval", "1h"), sync.env(in_cluster))
    kvfs.wait_for_log("ready: 1 of 1 Secrets written", timeout=60)
    kube.revoke_token(DEFAULT_TOKEN)  # kubelet rotated the token: the old one is refused, the file holds the new
    kube.add_token("rotated-token", DEFAULT_USER)
    (sa_dir / "token").write_text("rotated-token")
    kube.clear_requests()
    vault.set_secret("db", "v2")
    kvfs.process.send_signal(signal.SIGHUP)
    wait_for(lambda: (kube.secret(NS, "db") or {}).get("data", {}).get("password") == base64.b64encode(b"v2").decode())
    statuses = [r["status"] for r in writes(kube)]
    assert statuses == [401, 200]
    assert kvfs.stop() == 0

    kube.revoke_token("rotated-token")  # now the file holds a token the server refuses
    vault.set_secret("db", "v3")
    result = subprocess.run(
        [sys.executable, "-m", "kvfs", *in_cluster_args("--once")], env=sync.env(in_cluster),
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f'refused kvfs\'s credentials (401) for Secret "db" in namespace "{NS}"' in result.stderr
    assert f"the token in {sa_dir / 'token'} was read again and is still refused" in result.stderr
    assert "rotated-token" not in result.stderr


def test_an_invalid_secret_quotes_the_api_servers_reason(vault: FakeVault, sync: Sync) -> None:
    vault.set_secret("registry", "not json")
    result = sync.once(
        [{"objectName": "registry", "objectType": "secret"}],
        [{"secretName": "pull", "type": "kubernetes.io/dockerconfigjson",
          "data": [{"objectName": "registry", "key": ".dockerconfigjson"}]}],
    )  # fmt: skip
    assert result.returncode == 1
    (line,) = [line for line in result.stderr.splitlines() if "422 Invalid" in line]
    assert 'the Kubernetes API refused Secret "pull" in namespace "app" (422 Invalid): Secret "pull" is invalid' in line
    assert "not json" not in result.stderr


def test_another_field_manager_is_named_and_kvfs_takes_its_fields_back(
    vault: FakeVault, sync: Sync, kube: FakeKubeAPI, admin_kubectl: Kubectl, tmp_path: Path
) -> None:
    vault.set_secret("db", "v1")
    objects = [{"objectName": "db", "objectType": "secret"}]
    secret_objects = [{"secretName": "db", "type": "Opaque", "data": [{"objectName": "db", "key": "password"}]}]
    assert sync.once(objects, secret_objects).returncode == 0
    edited = tmp_path / "edit.yaml"
    edited.write_text(
        f"apiVersion: v1\nkind: Secret\nmetadata: {{name: db, namespace: {NS}}}\n"
        f"data: {{password: {base64.b64encode(b'hand-edited').decode()}}}\n"
    )
    conflict = admin_kubectl("apply", "--server-side", "--field-manager=ops", "--validate=false", "-f", str(edited))
    assert conflict.returncode != 0
    assert 'conflict with "kvfs"' in conflict.stderr  # what a real API server tells kubectl
    forced = admin_kubectl(
        "apply", "--server-side", "--field-manager=ops", "--force-conflicts", "--validate=false", "-f", str(edited)
    )
    assert forced.returncode == 0, forced.stderr
    assert data_of(admin_kubectl, "db") == {"password": b"hand-edited"}

    vault.set_secret("db", "v2")
    result = sync.once(objects, secret_objects)
    assert result.returncode == 0, result.stderr
    (warning,) = [line for line in result.stderr.splitlines() if "409 Conflict" in line]
    assert 'Secret "db": ops also manages .data.password (409 Conflict)' in warning
    assert data_of(admin_kubectl, "db") == {"password": b"v2"}


# -- configuration errors: exit 2, before any network ---------------------------------------------


def test_sync_without_secret_objects_or_kubernetes_is_a_configuration_error(
    vault: FakeVault, sync: Sync, kube: FakeKubeAPI
) -> None:
    vault.set_secret("db", "v1")
    objects = [{"objectName": "db", "objectType": "secret"}]
    nothing = sync.once(objects, [])
    assert nothing.returncode == 2
    assert "the class has no secretObjects" in one_error_line(nothing.stderr)
    secret_objects = [{"secretName": "db", "type": "Opaque", "data": [{"objectName": "db", "key": "password"}]}]
    args = sync.args(objects, secret_objects, "--once")
    at = args.index("--kubeconfig")
    no_kube = subprocess.run(
        [sys.executable, "-m", "kvfs", *args[:at], *args[at + 2 :]], env=sync.env(),
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert no_kube.returncode == 2
    assert "no Kubernetes API is configured" in one_error_line(no_kube.stderr)
    assert vault.requests() == [] and kube.requests() == []

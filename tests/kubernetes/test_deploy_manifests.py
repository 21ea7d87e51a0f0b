"""The manifests in containers/kubernetes are valid Kubernetes objects and agree with what kvfs needs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from kvfs.cli import build_parser
from kvfs.config import parse_provider_class
from kvfs.sinks.kubernetes.client import ROLE_RULE

MANIFESTS = sorted((Path(__file__).resolve().parents[2] / "containers" / "kubernetes").glob("*.yaml"))


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def by_kind(path: Path, kind: str) -> list[dict[str, Any]]:
    return [doc for doc in documents(path) if doc["kind"] == kind]


def test_there_are_manifests_for_the_sidecar_and_for_sync_alone() -> None:
    assert {p.name for p in MANIFESTS} >= {"sidecar.yaml", "sync-deployment.yaml"}


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
@pytest.mark.parametrize("version", ["1.29", "1.33"])
def test_every_document_validates_strictly(path: Path, version: str) -> None:
    for doc in documents(path):
        kubernetes_validate.validate(doc, version, strict=True)


WITH_CLASS = [p for p in MANIFESTS if by_kind(p, "ConfigMap")]
WITH_ROLE = [p for p in MANIFESTS if by_kind(p, "Role")]
KUBERNETES = MANIFESTS[0].parent


def test_every_class_and_role_is_checked() -> None:
    assert {p.name for p in WITH_CLASS} >= {"sidecar.yaml", "sync-deployment.yaml"}
    assert {p.name for p in WITH_ROLE} >= {"sidecar.yaml", "sync-deployment.yaml"}


@pytest.mark.parametrize("path", WITH_CLASS, ids=lambda p: p.name)
def test_the_embedded_class_is_one_kvfs_reads(path: Path) -> None:
    (config_map,) = by_kind(path, "ConfigMap")
    provider_class = parse_provider_class(config_map["data"]["spc.yaml"], origin=path.name)
    if by_kind(path, "Role"):
        assert provider_class.secret_objects, "the examples with a Role show secretObjects"


@pytest.mark.parametrize("path", WITH_ROLE, ids=lambda p: p.name)
def test_the_role_grants_exactly_what_the_403_message_asks_for(path: Path) -> None:
    (role,) = by_kind(path, "Role")
    assert role["rules"] == [yaml.safe_load(ROLE_RULE)]
    (binding,) = by_kind(path, "RoleBinding")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    accounts = {doc["metadata"]["name"] for doc in by_kind(path, "ServiceAccount")}
    assert {s["name"] for s in binding["subjects"]} <= accounts


def sidecar_pod() -> dict[str, Any]:
    (pod,) = by_kind(KUBERNETES / "sidecar.yaml", "Pod")
    return pod


def test_the_sidecar_tells_kvfs_its_pod_so_secrets_are_owned_by_it() -> None:
    (kvfs,) = sidecar_pod()["spec"]["initContainers"]
    env = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in kvfs["env"]}
    assert env == {"POD_NAME": "metadata.name", "POD_UID": "metadata.uid", "POD_NAMESPACE": "metadata.namespace"}


def test_the_sidecar_is_native_with_probes_on_the_metrics_listener() -> None:
    pod = sidecar_pod()
    (kvfs,) = pod["spec"]["initContainers"]
    assert kvfs["restartPolicy"] == "Always"  # a native sidecar: up before the app, down after it
    args = kvfs["args"]
    port = int(args[args.index("--metrics-addr") + 1].rsplit(":", 1)[1])
    assert {p["name"]: p["containerPort"] for p in kvfs["ports"]} == {"metrics": port}
    assert kvfs["startupProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert kvfs["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert kvfs["securityContext"] == {"privileged": True, "readOnlyRootFilesystem": True}
    assert pod["metadata"]["labels"]["azure.workload.identity/use"] == "true"
    (account,) = by_kind(KUBERNETES / "sidecar.yaml", "ServiceAccount")
    assert account["metadata"]["name"] == pod["spec"]["serviceAccountName"]
    assert account["metadata"]["annotations"]["azure.workload.identity/client-id"]
    (config_map,) = by_kind(KUBERNETES / "sidecar.yaml", "ConfigMap")
    assert {v["configMap"]["name"] for v in pod["spec"]["volumes"] if "configMap" in v} == {
        config_map["metadata"]["name"]
    }


def test_the_sidecar_args_are_what_kvfs_mount_accepts() -> None:
    (kvfs,) = sidecar_pod()["spec"]["initContainers"]
    build_parser().parse_args(kvfs["args"])  # exits 2 on anything kvfs would refuse
    help_text = subprocess.run(
        [sys.executable, "-m", "kvfs", "mount", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for option in (a for a in kvfs["args"] if a.startswith("--")):
        assert option in help_text, option


def test_the_deployment_runs_the_same_pod_as_the_sidecar_example() -> None:
    (deployment,) = by_kind(KUBERNETES / "deployment.yaml", "Deployment")
    template = deployment["spec"]["template"]
    assert template["spec"] == sidecar_pod()["spec"]
    labels = template["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert labels["azure.workload.identity/use"] == "true"


def test_the_writer_mode_runs_without_any_privilege_on_a_memory_volume() -> None:
    (pod,) = by_kind(KUBERNETES / "sync-dir.yaml", "Pod")
    once, sidecar = pod["spec"]["initContainers"]
    assert once["args"][0] == "sync-dir" and "--once" in once["args"] and "restartPolicy" not in once
    assert sidecar["args"][0] == "sync-dir" and sidecar["restartPolicy"] == "Always"
    assert sidecar["startupProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    for container in [*pod["spec"]["initContainers"], *pod["spec"]["containers"]]:
        security = container["securityContext"]
        assert security["allowPrivilegeEscalation"] is False and security["capabilities"] == {"drop": ["ALL"]}
        assert "privileged" not in security
        assert not any("devices" in str(v) for v in container.get("volumeMounts", []))
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    (volume,) = [v for v in pod["spec"]["volumes"] if v["name"] == "kv"]
    assert volume["emptyDir"]["medium"] == "Memory"
    help_text = subprocess.run(
        [sys.executable, "-m", "kvfs", "sync-dir", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for container in (once, sidecar):
        build_parser().parse_args(container["args"])
        for option in (a for a in container["args"] if a.startswith("--")):
            assert option in help_text, option


def test_sync_alone_runs_without_privileges() -> None:
    (deployment,) = by_kind(KUBERNETES / "sync-deployment.yaml", "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["args"][0] == "sync"
    security = container["securityContext"]
    assert security["runAsNonRoot"] and not security["allowPrivilegeEscalation"]
    assert "privileged" not in security

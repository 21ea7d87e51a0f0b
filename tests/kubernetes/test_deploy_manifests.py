"""The manifests in containers/kubernetes are valid Kubernetes objects and agree with what kvfs needs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

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


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_the_embedded_class_is_one_kvfs_reads(path: Path) -> None:
    (config_map,) = by_kind(path, "ConfigMap")
    provider_class = parse_provider_class(config_map["data"]["spc.yaml"], origin=path.name)
    assert provider_class.secret_objects, "the examples show secretObjects"


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_the_role_grants_exactly_what_the_403_message_asks_for(path: Path) -> None:
    (role,) = by_kind(path, "Role")
    assert role["rules"] == [yaml.safe_load(ROLE_RULE)]
    (binding,) = by_kind(path, "RoleBinding")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    accounts = {doc["metadata"]["name"] for doc in by_kind(path, "ServiceAccount")}
    assert {s["name"] for s in binding["subjects"]} <= accounts


def test_the_sidecar_tells_kvfs_its_pod_so_secrets_are_owned_by_it() -> None:
    (pod,) = by_kind(MANIFESTS[0].parent / "sidecar.yaml", "Pod")
    (kvfs,) = pod["spec"]["initContainers"]
    env = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in kvfs["env"]}
    assert env == {"POD_NAME": "metadata.name", "POD_UID": "metadata.uid", "POD_NAMESPACE": "metadata.namespace"}


def test_sync_alone_runs_without_privileges() -> None:
    (deployment,) = by_kind(MANIFESTS[0].parent / "sync-deployment.yaml", "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["args"][0] == "sync"
    security = container["securityContext"]
    assert security["runAsNonRoot"] and not security["allowPrivilegeEscalation"]
    assert "privileged" not in security

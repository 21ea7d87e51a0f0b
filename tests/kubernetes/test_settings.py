"""Which API server, namespace and owner Secret sync uses, and the one-line errors when it cannot tell."""

from __future__ import annotations

from pathlib import Path

import pytest

from kvfs.errors import ConfigError
from kvfs.sinks.kubernetes.settings import PodOwner, resolve_kube_settings

KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:6443"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u, namespace: from-context}}]
current-context: x
"""


@pytest.fixture
def kubeconfig(tmp_path: Path) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(KUBECONFIG)
    return path


@pytest.fixture
def service_account(tmp_path: Path) -> dict[str, str]:
    sa = tmp_path / "sa"
    sa.mkdir()
    (sa / "token").write_text("token")
    (sa / "ca.crt").write_text("not used here")
    (sa / "namespace").write_text("from-pod\n")
    return {
        "KUBERNETES_SERVICE_HOST": "10.0.0.1",
        "KUBERNETES_SERVICE_PORT": "443",
        "KVFS_SERVICE_ACCOUNT_DIR": str(sa),
    }


def resolve(environ: dict[str, str], **kwargs: object) -> object:
    args = {"kubeconfig": None, "namespace": None, "class_namespace": "", **kwargs}
    return resolve_kube_settings(environ=environ, **args)  # type: ignore[arg-type]


def test_without_any_kubernetes_configuration_the_error_says_what_to_do() -> None:
    with pytest.raises(ConfigError) as info:
        resolve({"HOME": "/root"})
    assert "no Kubernetes API is configured" in str(info.value)
    assert "--no-sync-secrets" in str(info.value)
    assert info.value.exit_code == 2


def test_in_cluster_uses_the_service_account_and_its_namespace(service_account: dict[str, str]) -> None:
    settings = resolve(service_account)
    assert settings.kubeconfig is None
    assert settings.namespace == "from-pod"
    assert settings.owner is None
    assert "in-cluster" in settings.source


def test_in_cluster_without_a_mounted_token_names_the_missing_file(service_account: dict[str, str]) -> None:
    Path(service_account["KVFS_SERVICE_ACCOUNT_DIR"], "token").unlink()
    with pytest.raises(ConfigError, match=r"sa/token is missing .*automountServiceAccountToken"):
        resolve(service_account)


def test_kubeconfig_flag_then_env_then_in_cluster(kubeconfig: Path, service_account: dict[str, str]) -> None:
    assert resolve(service_account, kubeconfig=str(kubeconfig)).kubeconfig == kubeconfig
    assert resolve({**service_account, "KUBECONFIG": str(kubeconfig)}).kubeconfig == kubeconfig
    with pytest.raises(ConfigError, match=r"^--kubeconfig /nope: no such file$"):
        resolve(service_account, kubeconfig="/nope")
    with pytest.raises(ConfigError, match=r"^KUBECONFIG /nope: no such file$"):
        resolve({"KUBECONFIG": "/nope"})


def test_namespace_precedence(kubeconfig: Path, service_account: dict[str, str]) -> None:
    env = {**service_account, "POD_NAMESPACE": "from-env"}
    assert resolve(env, namespace="from-flag").namespace == "from-flag"
    assert resolve(env).namespace == "from-env"
    assert resolve(service_account, class_namespace="from-class").namespace == "from-pod"
    assert resolve({}, kubeconfig=str(kubeconfig), class_namespace="from-class").namespace == "from-class"
    assert resolve({}, kubeconfig=str(kubeconfig)).namespace == "from-context"
    with pytest.raises(ConfigError, match="not a valid Kubernetes namespace"):
        resolve({}, kubeconfig=str(kubeconfig), namespace="Bad_NS")


def test_pod_owner_needs_both_name_and_uid(service_account: dict[str, str]) -> None:
    owner = resolve({**service_account, "POD_NAME": "web-0", "POD_UID": "1234"}).owner
    assert owner == PodOwner("web-0", "1234")
    assert owner.reference() == {"apiVersion": "v1", "kind": "Pod", "name": "web-0", "uid": "1234"}
    with pytest.raises(ConfigError, match="POD_UID is not set"):
        resolve({**service_account, "POD_NAME": "web-0"})

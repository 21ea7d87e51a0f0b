"""Where Secrets go: which API server and credentials, which namespace, and which pod owns them.

Read once at start, so that a missing or broken configuration is a one-line configuration error
(exit 2) before anything else happens. Sources, first found wins:

- API server: ``--kubeconfig PATH``, else ``KUBECONFIG``, else in-cluster (``KUBERNETES_SERVICE_HOST``
  and ``_PORT`` with the service-account token and CA). ``~/.kube/config`` is never used implicitly: a
  laptop's current context must not receive Secrets by accident.
- Namespace: ``--namespace``, else ``POD_NAMESPACE``, else the in-cluster namespace file, else the
  class's ``metadata.namespace``, else the kubeconfig context's namespace.
- Owner: the pod named by ``POD_NAME`` and ``POD_UID`` (the downward API), else none.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ...errors import ConfigError

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
FIELD_MANAGER = "kvfs"
_NAMESPACE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


@dataclass(frozen=True)
class PodOwner:
    """The pod whose deletion should take its Secrets along (no controller, no blockOwnerDeletion)."""

    name: str
    uid: str

    def reference(self) -> dict[str, str]:
        return {"apiVersion": "v1", "kind": "Pod", "name": self.name, "uid": self.uid}


@dataclass(frozen=True)
class KubeSettings:
    namespace: str
    kubeconfig: Path | None = None  # None: in-cluster
    service_account_dir: Path = SERVICE_ACCOUNT_DIR
    owner: PodOwner | None = None

    @property
    def source(self) -> str:
        """How log lines and errors name the configuration."""
        return f"kubeconfig {self.kubeconfig}" if self.kubeconfig else "the in-cluster service account"


def resolve_kube_settings(
    *,
    kubeconfig: str | None,
    namespace: str | None,
    class_namespace: str = "",
    environ: Mapping[str, str] | None = None,
) -> KubeSettings:
    """The settings for syncing Secrets, or a ConfigError saying what to provide."""
    environ = os.environ if environ is None else environ
    sa_dir = Path(environ.get("KVFS_SERVICE_ACCOUNT_DIR") or SERVICE_ACCOUNT_DIR)
    config_path = _kubeconfig_path(kubeconfig, environ)
    if config_path is None and not environ.get("KUBERNETES_SERVICE_HOST"):
        raise ConfigError(
            "the class has secretObjects but no Kubernetes API is configured: run in a pod (in-cluster), or give "
            "--kubeconfig or KUBECONFIG; --no-sync-secrets mounts without syncing Secrets"
        )
    if config_path is None:
        _require_service_account(sa_dir, environ)
    chosen = (
        namespace
        or environ.get("POD_NAMESPACE")
        or (_read_text(sa_dir / "namespace") if config_path is None else "")
        or class_namespace
        or (_kubeconfig_namespace(config_path) if config_path is not None else "")
    )
    if not chosen:
        raise ConfigError("no namespace for the synced Secrets: give --namespace (or POD_NAMESPACE)")
    if not _NAMESPACE.fullmatch(chosen) or len(chosen) > 63:
        raise ConfigError(f"namespace {chosen!r} is not a valid Kubernetes namespace name")
    return KubeSettings(namespace=chosen, kubeconfig=config_path, service_account_dir=sa_dir, owner=_pod_owner(environ))


def _kubeconfig_path(flag: str | None, environ: Mapping[str, str]) -> Path | None:
    if flag:
        path = Path(flag)
        what = f"--kubeconfig {flag}"
    elif environ.get("KUBECONFIG"):
        first = environ["KUBECONFIG"].split(os.pathsep)[0]
        path = Path(first)
        what = f"KUBECONFIG {first}"
    else:
        return None
    if not path.is_file():
        raise ConfigError(f"{what}: no such file")
    return path


def _require_service_account(sa_dir: Path, environ: Mapping[str, str]) -> None:
    if not environ.get("KUBERNETES_SERVICE_PORT"):
        raise ConfigError("KUBERNETES_SERVICE_HOST is set but KUBERNETES_SERVICE_PORT is not")
    for name in ("token", "ca.crt"):
        if not (sa_dir / name).is_file():
            raise ConfigError(
                f"in-cluster Kubernetes configuration: {sa_dir / name} is missing "
                "(is a service-account token mounted? automountServiceAccountToken must not be false)"
            )


def _read_text(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def _kubeconfig_namespace(path: Path) -> str:
    """The current context's namespace, if the kubeconfig names one."""
    from lightkube import KubeConfig
    from lightkube.core.exceptions import ConfigError as LightkubeConfigError

    try:
        config = KubeConfig.from_file(path).get()
    except (LightkubeConfigError, OSError, ValueError, TypeError, AttributeError) as exc:
        raise ConfigError(f"kubeconfig {path} cannot be read: {exc}") from None
    return config.context.namespace if config.context and config.context.namespace else ""


def _pod_owner(environ: Mapping[str, str]) -> PodOwner | None:
    name, uid = environ.get("POD_NAME", ""), environ.get("POD_UID", "")
    if name and uid:
        return PodOwner(name, uid)
    if name or uid:
        missing = "POD_UID" if name else "POD_NAME"
        raise ConfigError(f"{missing} is not set: give both POD_NAME and POD_UID (downward API) or neither")
    return None

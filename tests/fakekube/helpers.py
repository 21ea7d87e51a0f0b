"""Helpers for any test folder: a running fake with one service account, and clients pointed at it.

from tests.fakekube import running_fake_kube, lightkube_client

with running_fake_kube(tmp_path / "kube") as api:   # token DEFAULT_TOKEN -> DEFAULT_USER, get/create/patch in "app"
    client = lightkube_client(api, token=DEFAULT_TOKEN, namespace="app")
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml
from lightkube import AsyncClient
from lightkube.config.kubeconfig import KubeConfig

from . import files
from .fake import DEFAULT_VERBS, FakeKubeAPI

DEFAULT_TOKEN = "kvfs-test-token"
DEFAULT_USER = "system:serviceaccount:app:kvfs"
DEFAULT_NAMESPACE = "app"
#: An identity for test set-up that may do anything (grant it with ``api.allow(ADMIN_USER, "*", "*", ("*",))``).
ADMIN_TOKEN = "admin-token"
ADMIN_USER = "kubernetes-admin"
KUBECTL_TIMEOUT = 30.0

#: ``run(*args, stdin=None)``: kubectl bound to one kubeconfig.
Kubectl = Callable[..., subprocess.CompletedProcess[str]]


@contextmanager
def running_fake_kube(
    state_dir: Path | None = None,
    *,
    namespace: str = DEFAULT_NAMESPACE,
    token: str = DEFAULT_TOKEN,
    user: str = DEFAULT_USER,
    verbs: Iterable[str] = DEFAULT_VERBS,
) -> Iterator[FakeKubeAPI]:
    """A started fake where ``token`` is ``user``, allowed ``verbs`` on Secrets in ``namespace``."""
    with FakeKubeAPI(state_dir) as api:
        api.add_token(token, user)
        api.allow(user, namespace, "secrets", verbs)
        api.add_namespace(namespace)
        yield api


def lightkube_config(api: FakeKubeAPI, *, token: str, namespace: str | None = None) -> KubeConfig:
    """The lightkube configuration ``api.write_kubeconfig`` would write, without a file."""
    text = files.kubeconfig_text(api.url, api.ca_file.read_bytes(), token, namespace, "fake")
    return KubeConfig.from_dict(yaml.safe_load(text))


def lightkube_client(
    api: FakeKubeAPI, *, token: str, namespace: str | None = None, field_manager: str | None = None
) -> AsyncClient:
    """An async lightkube client (trio or asyncio) for ``token``; no retries, 10 s timeouts."""
    return AsyncClient(lightkube_config(api, token=token, namespace=namespace), field_manager=field_manager)


def kubectl(
    kubeconfig: Path, *args: str, home: Path, stdin: str | None = None, timeout: float = KUBECTL_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    """Run the real kubectl against ``kubeconfig``; ``home`` holds its discovery cache (keep one per test:
    ports are reused between fakes). Never raises for a non-zero exit; look at ``returncode``."""
    binary = os.environ.get("KUBECTL") or shutil.which("kubectl") or "/usr/bin/kubectl"
    home.mkdir(parents=True, exist_ok=True)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "KUBECONFIG": str(kubeconfig)}
    command = [binary, f"--kubeconfig={kubeconfig}", f"--cache-dir={home / 'cache'}", "--request-timeout=10s", *args]
    return subprocess.run(command, input=stdin, capture_output=True, text=True, env=env, timeout=timeout, check=False)

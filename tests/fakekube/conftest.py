"""Fixtures for the fake's own tests: a running fake with an admin and the kvfs service account, and kubectl."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .fake import FakeKubeAPI
from .helpers import ADMIN_TOKEN, ADMIN_USER, DEFAULT_NAMESPACE, DEFAULT_TOKEN, DEFAULT_USER, Kubectl, kubectl


@pytest.fixture
def kube(tmp_path: Path) -> Iterator[FakeKubeAPI]:
    """A fake where ``ADMIN_TOKEN`` may do anything and ``DEFAULT_TOKEN`` (kvfs) may get/create/patch
    Secrets in ``DEFAULT_NAMESPACE``."""
    with FakeKubeAPI(state_dir=tmp_path / "kube") as api:
        api.add_token(ADMIN_TOKEN, ADMIN_USER)
        api.allow(ADMIN_USER, "*", "*", ("*",))
        api.add_token(DEFAULT_TOKEN, DEFAULT_USER)
        api.allow(DEFAULT_USER, DEFAULT_NAMESPACE)
        yield api


@pytest.fixture
def kubectl_as(kube: FakeKubeAPI, tmp_path: Path) -> Callable[[str], Kubectl]:
    """``kubectl_as(token)(*args, stdin=None)`` runs the real kubectl with that token in ``DEFAULT_NAMESPACE``."""

    def for_token(token: str) -> Kubectl:
        config = kube.write_kubeconfig(tmp_path / f"kubeconfig-{token}", token=token, namespace=DEFAULT_NAMESPACE)

        def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
            return kubectl(config, *args, home=tmp_path / "kubectl-home", stdin=stdin)

        return run

    return for_token

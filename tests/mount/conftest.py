"""Real FUSE mounts: ``kvfs mount`` in a subprocess against the fake vault."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from kvfs.fakevault import FakeVault
from tests.helpers import KvfsProcess, force_unmount, provider_class_yaml

MountFactory = Callable[..., KvfsProcess]


@pytest.fixture
def mountpoint() -> Iterator[Path]:
    """An empty folder other users can reach (pytest's tmp_path is private to root)."""
    parent = Path(tempfile.mkdtemp(prefix="kvfs-test-"))
    parent.chmod(0o755)
    path = parent / "mnt"
    path.mkdir()
    yield path
    force_unmount(path)
    shutil.rmtree(parent, ignore_errors=True)


def kvfs_env(vault: FakeVault, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The test process's environment without what would point kvfs elsewhere, then ``extra``."""
    env = {**os.environ, **vault.workload_identity_env()}
    for name in ("KVFS_VAULT_URL", "KUBECONFIG", "KUBERNETES_SERVICE_HOST", "POD_NAME", "POD_UID", "POD_NAMESPACE"):
        env.pop(name, None)
    return {**env, **(extra or {})}


@pytest.fixture
def start_kvfs(vault: FakeVault, mountpoint: Path, tmp_path: Path) -> Iterator[MountFactory]:
    """Start ``kvfs mount`` on ``objects`` and wait until the mount is ready (unless ``wait=False``)."""
    started: list[KvfsProcess] = []

    def start(
        objects: list[dict[str, object]],
        *args: str,
        wait: bool = True,
        env: Mapping[str, str] | None = None,
        target: Path | None = None,
        secret_objects: list[dict[str, object]] | None = None,
    ) -> KvfsProcess:
        spc = tmp_path / f"spc-{len(started)}.yaml"
        text = provider_class_yaml(
            objects, tenant_id=vault.tenant_id, client_id=vault.client_id, secret_objects=secret_objects
        )
        spc.write_text(text)
        where = target or mountpoint
        process = KvfsProcess(
            ["mount", str(spc), str(where), "--vault-url", vault.vault_url, "--ca-file", str(vault.ca_file), *args],
            kvfs_env(vault, env),
            where,
        )
        started.append(process)
        if wait:
            process.wait_ready()
        return process

    yield start
    for process in started:
        if process.process.poll() is None:
            process.stop()

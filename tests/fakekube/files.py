"""Client configuration files pointing at the fake: a kubeconfig and an in-cluster service-account folder."""

from __future__ import annotations

import base64
import os
import tempfile
from pathlib import Path

import yaml


def write_private(path: Path, text: str) -> None:
    """Write ``text`` with mode 0600 via a temporary file and rename, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def kubeconfig_text(server: str, ca_pem: bytes, token: str, namespace: str | None, context: str) -> str:
    """A self-contained kubeconfig: the CA and the token inline, one cluster, user and context."""
    ctx: dict[str, str] = {"cluster": context, "user": context}
    if namespace:
        ctx["namespace"] = namespace
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": context,
                "cluster": {"server": server, "certificate-authority-data": base64.b64encode(ca_pem).decode("ascii")},
            }
        ],
        "users": [{"name": context, "user": {"token": token}}],
        "contexts": [{"name": context, "context": ctx}],
        "current-context": context,
        "preferences": {},
    }
    return yaml.safe_dump(config, sort_keys=False)


def write_service_account(directory: Path, *, token: str, ca_pem: bytes, namespace: str) -> None:
    """What a pod finds in /var/run/secrets/kubernetes.io/serviceaccount: token (no newline), ca.crt, namespace."""
    directory.mkdir(parents=True, exist_ok=True)
    write_private(directory / "token", token)
    (directory / "ca.crt").write_bytes(ca_pem)
    (directory / "namespace").write_text(namespace, encoding="utf-8")

"""What each ``secretObjects`` entry becomes: a Secret built from the served files, as the driver builds it.

Pure: files in, Secret out. ``data[].objectName`` names a served file (the alias as mounted, so a reader
of the mount and the Secret get the same bytes). For ``kubernetes.io/tls``, ``tls.crt`` and ``tls.key``
are cut from the PEM or PFX content as the driver cuts them. Every Secret carries the driver's label
``secrets-store.csi.k8s.io/managed: "true"``.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

from ...config import SecretObject
from ...content.files import FileContent
from ...content.tls import TlsSplitError, split_tls
from ...errors import KvfsError

MANAGED_LABEL = "secrets-store.csi.k8s.io/managed"
TLS = "kubernetes.io/tls"


class SecretBuildError(KvfsError):
    """A Secret cannot be built from the files served now (a file is missing or cannot be split)."""


@dataclass(frozen=True)
class SecretManifest:
    name: str
    type: str
    data: dict[str, bytes] = field(repr=False)
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)

    def digest(self) -> bytes:
        """Changes whenever anything written would change; equal digests mean nothing to write."""
        h = hashlib.blake2b(digest_size=16)
        for part in (self.name, self.type, sorted(self.labels.items()), sorted(self.annotations.items())):
            h.update(repr(part).encode())
        for key in sorted(self.data):
            h.update(key.encode() + b"\0" + hashlib.sha256(self.data[key]).digest())
        return h.digest()

    def body(
        self, namespace: str, *, owners: list[dict[str, str]], resource_version: str | None = None
    ) -> dict[str, object]:
        """The object to apply: every field kvfs owns, and nothing else."""
        metadata: dict[str, object] = {"name": self.name, "namespace": namespace, "labels": dict(self.labels)}
        if self.annotations:
            metadata["annotations"] = dict(self.annotations)
        if owners:
            metadata["ownerReferences"] = owners
        if resource_version:
            metadata["resourceVersion"] = resource_version
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": metadata,
            "type": self.type,
            "data": {key: base64.b64encode(value).decode("ascii") for key, value in self.data.items()},
        }


def build_secret(secret: SecretObject, files: Mapping[str, FileContent]) -> SecretManifest:
    """The Secret one ``secretObjects`` entry asks for, from the files served now."""
    data: dict[str, bytes] = {}
    for entry in secret.data:
        content = files.get(entry.object_name)
        if content is None:
            raise SecretBuildError(
                f'Secret "{secret.secret_name}": file {entry.object_name!r} for key {entry.key!r} is not served '
                "(an optional object missing from the vault?); the Secret waits for it"
            )
        data[entry.key] = content.data
        if secret.type == TLS and entry.key in ("tls.crt", "tls.key"):
            data[entry.key] = _tls_part(secret, entry.key, entry.object_name, content.data)
    return SecretManifest(
        name=secret.secret_name,
        type=secret.type,
        data=data,
        labels={**secret.labels, MANAGED_LABEL: "true"},
        annotations=dict(secret.annotations),
    )


def _tls_part(secret: SecretObject, key: str, object_name: str, content: bytes) -> bytes:
    try:
        pair = split_tls(content)
    except TlsSplitError as exc:
        raise SecretBuildError(
            f'Secret "{secret.secret_name}" (kubernetes.io/tls): {key} cannot be taken from {object_name!r}: {exc}'
        ) from None
    return pair.certificate if key == "tls.crt" else pair.key

"""A fake Kubernetes API server for tests: Secrets over HTTPS, with RBAC, managedFields and server-side apply.

It answers as the real kube-apiserver does (Status bodies, messages, conflicts, validation) so kvfs can be
tested against lightkube and kubectl unmodified. See README.md in this folder.
"""

from .errors import KubeError
from .fake import DEFAULT_VERBS, SETUP_MANAGER, FakeKubeAPI
from .helpers import (
    ADMIN_TOKEN,
    ADMIN_USER,
    DEFAULT_NAMESPACE,
    DEFAULT_TOKEN,
    DEFAULT_USER,
    kubectl,
    lightkube_client,
    lightkube_config,
    running_fake_kube,
)

__all__ = [
    "ADMIN_TOKEN",
    "ADMIN_USER",
    "DEFAULT_NAMESPACE",
    "DEFAULT_TOKEN",
    "DEFAULT_USER",
    "DEFAULT_VERBS",
    "SETUP_MANAGER",
    "FakeKubeAPI",
    "KubeError",
    "kubectl",
    "lightkube_client",
    "lightkube_config",
    "running_fake_kube",
]

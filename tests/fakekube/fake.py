"""``FakeKubeAPI``: the lifecycle of one fake Kubernetes API server and its Python API for tests.

``start()`` binds the socket, writes the CA and serves on a daemon thread. A stopped fake can start again
on the same port with its state, CA and tokens, so a stop/start looks like an API-server outage.
"""

from __future__ import annotations

import base64
import shutil
import ssl
import tempfile
import threading
import weakref
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import trustme

from kvfs.fakevault.https import TLSServer

from . import files
from .faults import FaultSet
from .rbac import AccessControl
from .reqlog import RequestLog
from .routes import Router
from .server import App, Handler
from .store import Store

HOST = "127.0.0.1"
#: What ``allow()`` grants when no verbs are named: what kvfs needs to sync a Secret.
DEFAULT_VERBS = ("get", "create", "patch")
#: The manager the set-up helpers write as.
SETUP_MANAGER = "fakekube-setup"


class FakeKubeAPI:
    """A fake Kubernetes API server for Secrets on ``https://127.0.0.1:PORT``, with its own CA."""

    def __init__(self, state_dir: Path | None = None, port: int = 0) -> None:
        self.state_dir = Path(state_dir) if state_dir is not None else None
        self._port = port
        self._store = Store()
        self._access = AccessControl()
        self._faults = FaultSet()
        self._log = RequestLog()
        self._ca = trustme.CA(organization_name="kvfs fake kube-apiserver")
        self._server: TLSServer | None = None
        self._thread: threading.Thread | None = None
        self._files_dir: Path | None = None
        self._lock = threading.Lock()

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> FakeKubeAPI:
        """Listen, write the CA, serve; returns once the socket accepts connections."""
        with self._lock:
            if self._server is not None:
                raise RuntimeError("the fake Kubernetes API is already running")
            files_dir = self._prepare_files_dir()
            leaf = self._ca.issue_cert("127.0.0.1", "localhost", common_name="kube-apiserver")
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            leaf.configure_cert(context)
            router = Router(self._store, self._access, lambda: f"{HOST}:{self._port}")
            app = App(router=router, access=self._access, faults=self._faults, log=self._log)
            server = TLSServer((HOST, self._port), context, app, Handler)
            self._port = server.server_address[1]
            self._ca.cert_pem.write_to_path(str(files_dir / "ca.pem"))
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"fakekube-{self._port}",
                daemon=True,
            )
            thread.start()
            self._server, self._thread = server, thread
            return self

    def _prepare_files_dir(self) -> Path:
        if self._files_dir is None:
            if self.state_dir is not None:
                self.state_dir.mkdir(parents=True, exist_ok=True)
                self._files_dir = self.state_dir
            else:
                self._files_dir = Path(tempfile.mkdtemp(prefix="fakekube-"))
                weakref.finalize(self, shutil.rmtree, self._files_dir, ignore_errors=True)
        return self._files_dir

    def stop(self) -> None:
        """Stop serving and drop open connections. Idempotent; state, CA, tokens and port are kept."""
        with self._lock:
            server, thread = self._server, self._thread
            self._server = self._thread = None
        if server is None:
            return
        server.stop(thread)

    def __enter__(self) -> FakeKubeAPI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._server is not None

    # -- addresses and client files -------------------------------------------------------------

    def _require_started(self) -> Path:
        if self._files_dir is None or self._port == 0:
            raise RuntimeError("the fake Kubernetes API has not been started")
        return self._files_dir

    @property
    def port(self) -> int:
        self._require_started()
        return self._port

    @property
    def url(self) -> str:
        """``https://127.0.0.1:PORT`` (no trailing slash)."""
        return f"https://{HOST}:{self.port}"

    @property
    def ca_file(self) -> Path:
        """The CA certificate (PEM) clients must trust; the server certificate is for 127.0.0.1 and localhost."""
        return self._require_started() / "ca.pem"

    def write_kubeconfig(self, path: Path, *, token: str, namespace: str | None = None, context: str = "fake") -> Path:
        """A kubeconfig with this server, its CA and ``token`` inline; written 0600."""
        path = Path(path)
        text = files.kubeconfig_text(self.url, self._ca.cert_pem.bytes(), token, namespace, context)
        files.write_private(path, text)
        return path

    def write_service_account(self, directory: Path, *, token: str, namespace: str) -> dict[str, str]:
        """Write ``token`` (no trailing newline), ``ca.crt`` and ``namespace`` as a pod's service-account folder;
        returns the ``KUBERNETES_SERVICE_HOST``/``_PORT`` environment that goes with it."""
        files.write_service_account(Path(directory), token=token, ca_pem=self._ca.cert_pem.bytes(), namespace=namespace)
        return {"KUBERNETES_SERVICE_HOST": HOST, "KUBERNETES_SERVICE_PORT": str(self.port)}

    # -- identities and RBAC ----------------------------------------------------------------------

    def add_token(self, token: str, user: str) -> None:
        """Accept ``Bearer token`` as ``user`` (e.g. ``system:serviceaccount:app:kvfs``)."""
        self._access.add_token(token, user)

    def revoke_token(self, token: str) -> None:
        """From now on ``token`` gets 401, as a deleted service-account token would."""
        self._access.revoke_token(token)

    def allow(self, user: str, namespace: str, resource: str = "secrets", verbs: Iterable[str] = DEFAULT_VERBS) -> None:
        """Grant ``verbs`` on ``resource`` in ``namespace`` (``"*"``: everywhere, as a ClusterRoleBinding);
        adds to what ``user`` already has."""
        self._access.allow(user, namespace, resource, verbs)

    def deny_all(self, user: str) -> None:
        """Take every grant away from ``user``."""
        self._access.deny_all(user)

    # -- state ------------------------------------------------------------------------------------

    def secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The stored Secret as ``GET`` returns it, or None."""
        return self._store.find(namespace, name)

    def secrets(self, namespace: str) -> list[dict[str, Any]]:
        """The Secrets of ``namespace`` sorted by name, each as ``GET`` returns it."""
        listed = self._store.list(namespace)["items"]
        return [{"kind": "Secret", "apiVersion": "v1", **item} for item in listed]

    def create_secret(
        self,
        namespace: str,
        name: str,
        data: Mapping[str, bytes | str] | None = None,
        *,
        type: str | None = None,
        labels: Mapping[str, str] | None = None,
        annotations: Mapping[str, str] | None = None,
        manager: str = SETUP_MANAGER,
    ) -> dict[str, Any]:
        """Create a Secret as ``manager`` would with a POST (same checks, same managedFields); values are
        raw bytes or text, encoded here. Returns the stored object."""
        meta: dict[str, Any] = {"name": name, "namespace": namespace}
        if labels:
            meta["labels"] = dict(labels)
        if annotations:
            meta["annotations"] = dict(annotations)
        body: dict[str, Any] = {"apiVersion": "v1", "kind": "Secret", "metadata": meta}
        if data:
            body["data"] = {
                k: base64.b64encode(v.encode("utf-8") if isinstance(v, str) else v).decode("ascii")
                for k, v in data.items()
            }
        if type is not None:
            body["type"] = type
        return self._store.create(namespace, body, manager)[1]

    def delete_secret(self, namespace: str, name: str) -> None:
        """Delete a Secret as a DELETE would (404 ``KubeError`` if missing)."""
        self._store.delete(namespace, name)

    def add_namespace(self, name: str, labels: Mapping[str, str] | None = None) -> dict[str, Any]:
        """Record a namespace (every name is treated as existing anyway); returns the Namespace object."""
        return self._store.namespace(name, dict(labels) if labels else None)

    def add_pod(
        self, namespace: str, name: str, uid: str | None = None, labels: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        """Record a running pod (served by ``GET .../pods/{name}``); returns the Pod object."""
        return self._store.add_pod(namespace, name, uid, dict(labels) if labels else None)

    @property
    def resource_version(self) -> str:
        """The global resourceVersion counter (the last write)."""
        return self._store.resource_version

    # -- request log and faults ------------------------------------------------------------------

    def requests(self) -> list[dict[str, Any]]:
        """Every request in order: method, path, query, content_type, user, status, field_manager, force."""
        return self._log.snapshot()

    def clear_requests(self) -> None:
        self._log.clear()

    def add_fault(
        self, status: int = 503, count: int | None = None, path: str | None = None, seconds: float | None = None
    ) -> int:
        """Answer matching requests (``path``: regex searched in path and query) with ``status`` before
        authentication, ``count`` times or for ``seconds``; returns the fault's id."""
        return self._faults.add(status, count, path, seconds)

    def remove_fault(self, fault_id: int) -> None:
        self._faults.remove(fault_id)

    def clear_faults(self) -> None:
        self._faults.clear()

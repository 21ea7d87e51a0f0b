"""``FakeVault``: the lifecycle of one fake Key Vault + Entra authority + IMDS, and its direct Python API.

``start()`` binds the sockets (HTTPS for the vault and authority, plain HTTP for IMDS), writes the CA and the
federated token file, serves on daemon threads and (with a ``state_dir``) advertises itself in
``fake-vault.json``. The direct methods change state exactly as the matching SDK call would, bypassing HTTP,
for fast test set-up; the identity methods play the parts of Entra's app registration, the cluster and the VM.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import ssl
import tempfile
import threading
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import trustme

from .authority import VAULT_RESOURCE, Authority
from .cluster import FEDERATED_SUBJECT, FEDERATION_AUDIENCE, Cluster
from .faults import FaultSet
from .federation import FederatedCredential, Federation
from .https import PlainServer, TLSServer
from .imds import Imds, ManagedIdentity
from .imdsserver import ImdsApp, ImdsHandler
from .reqlog import RequestLog
from .server import App, Handler
from .state import VaultState
from .store import check_collection
from .throttle import Throttle

DEFAULT_TENANT_ID = "72f9a6c1-5b3e-4d8a-9c0f-6e1b2d3a4f50"
DEFAULT_CLIENT_ID = "0b8e4c2d-7a91-4f36-b5d0-c3a2e1f09d87"
INFO_FILE = "fake-vault.json"
#: Lifetime of the token file written by start() and rotate_federated_token(): long, because nothing rotates
#: it for a running demo or ``kvfs fake-vault``. Tests of expiry write their own with write_federated_token().
FEDERATED_LIFETIME = 365 * 86400


def _write_atomic(path: Path, data: str, mode: int = 0o644) -> None:
    """Write via a temporary file and rename, so readers never see a partial file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


_VAULT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]{1,22}[A-Za-z0-9]")


def _url_host(host: str) -> str:
    """The host as clients should address it: wildcard binds become 127.0.0.1, IPv6 gets brackets."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def _version_of(bundle: dict[str, Any]) -> str:
    ident = bundle.get("id") or bundle["key"]["kid"]
    return ident.rsplit("/", 1)[1]


class FakeVault:
    """A fake Azure Key Vault and Entra ID authority on one local HTTPS port, and a fake IMDS on another
    (plain HTTP).

    The same object can be stopped and started again: state, CA, signing keys, identities and federated
    credentials survive, and the ports are kept, so a restart looks like an outage to clients.
    ``resource`` is the vault's audience (another cloud's, e.g. ``https://vault.usgovcloudapi.net``);
    ``challenge_tenant`` the tenant its 401 challenge names (default: ``tenant_id``); ``throttle``
    ``(budget, window seconds)`` limits vault requests as Key Vault does (see ``set_throttle``).
    """

    def __init__(
        self,
        state_dir: Path | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        tenant_id: str = DEFAULT_TENANT_ID,
        client_id: str = DEFAULT_CLIENT_ID,
        *,
        token_lifetime: int = 3600,
        resource: str = VAULT_RESOURCE,
        challenge_tenant: str | None = None,
        throttle: tuple[int, float] | None = None,
        vault_name: str | None = None,
    ) -> None:
        if vault_name is not None and not _VAULT_NAME.fullmatch(vault_name):
            raise ValueError(f"{vault_name!r} is not a Key Vault name (3-24 letters, digits and hyphens)")
        self.state_dir = Path(state_dir) if state_dir is not None else None
        self.host = host
        self.vault_name = vault_name
        self.tenant_id = tenant_id
        self.client_id = client_id
        self._challenge_tenant = challenge_tenant or tenant_id
        self._port = port
        self._imds_port = 0
        self._state = VaultState()
        self._cluster = Cluster()
        self._federation = Federation(self._cluster)
        self._authority = Authority(
            tenant_id, client_id, self._federation, token_lifetime=token_lifetime, resource=resource
        )
        self._imds = Imds(self._authority)
        self._faults = FaultSet()
        self._throttle = Throttle()
        if throttle is not None:
            self.set_throttle(*throttle)
        self._log = RequestLog()
        self._ca = trustme.CA(organization_name="kvfs fake vault")
        self._serving: list[tuple[TLSServer, threading.Thread]] = []
        self._files_dir: Path | None = None
        self._default_credential_added = False
        self._lock = threading.Lock()

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> FakeVault:
        """Listen, write the CA and token files, serve; returns once the sockets accept connections."""
        with self._lock:
            if self._serving:
                raise RuntimeError("the fake vault is already running")
            files = self._prepare_files_dir()
            names = {"localhost", "127.0.0.1", self.host.strip("[]"), *([self.vault_host] if self.vault_name else [])}
            identities = sorted(names - {"", "0.0.0.0", "::"})
            leaf = self._ca.issue_cert(*identities, common_name="kvfs fake vault")
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            leaf.configure_cert(context)
            app = App(
                state=self._state,
                authority=self._authority,
                faults=self._faults,
                log=self._log,
                throttle=self._throttle,
                info=self.info,
                mint=lambda client_id, lifetime: self.mint_access_token(client_id=client_id, lifetime=lifetime),
                challenge_tenant=self._challenge_tenant,
            )
            server = TLSServer((self.host, self._port), context, app, Handler)
            try:
                imds_app = ImdsApp(imds=self._imds, faults=self._faults, log=self._log)
                imds_server = PlainServer((self.host, self._imds_port), imds_app, ImdsHandler)
            except BaseException:
                server.server_close()
                raise
            self._port = server.server_address[1]
            self._imds_port = imds_server.server_address[1]
            port = "" if self._port == 443 else f":{self._port}"
            base = f"https://{_url_host(self.host)}{port}"
            self._state.vault_url = f"https://{self.vault_host}{port}/" if self.vault_name else base + "/"
            self._authority.authority_host = base
            self._cluster.issuer = base + "/oidc"
            if not self._default_credential_added:
                self._federation.add(self._cluster.issuer, FEDERATED_SUBJECT)
                self._default_credential_added = True
            self._ca.cert_pem.write_to_path(str(files / "ca.pem"))
            # Always a fresh token: a file left in state_dir by another process is signed with its key.
            _write_atomic(files / "federated-token", self._cluster.mint(lifetime=FEDERATED_LIFETIME), 0o600)
            for each, name in ((server, "fakevault"), (imds_server, "fakeimds")):
                thread = threading.Thread(
                    target=each.serve_forever,
                    kwargs={"poll_interval": 0.05},
                    name=f"kvfs-{name}-{each.server_address[1]}",
                    daemon=True,
                )
                thread.start()
                self._serving.append((each, thread))
            if self.state_dir is not None:
                _write_atomic(self.state_dir / INFO_FILE, json.dumps(self.info(), indent=2) + "\n", mode=0o600)
            return self

    def _prepare_files_dir(self) -> Path:
        if self._files_dir is None:
            if self.state_dir is not None:
                self.state_dir.mkdir(parents=True, exist_ok=True)
                self._files_dir = self.state_dir
            else:
                self._files_dir = Path(tempfile.mkdtemp(prefix="kvfs-fakevault-"))
                weakref.finalize(self, shutil.rmtree, self._files_dir, ignore_errors=True)
        return self._files_dir

    def stop(self) -> None:
        """Stop serving (vault, authority and IMDS) and drop open connections; removes ``fake-vault.json``.
        Idempotent."""
        with self._lock:
            serving, self._serving = self._serving, []
        if not serving:
            return
        if self.state_dir is not None:
            (self.state_dir / INFO_FILE).unlink(missing_ok=True)
        for server, thread in serving:
            server.stop(thread)

    def __enter__(self) -> FakeVault:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return bool(self._serving)

    # -- addresses and files --------------------------------------------------------------------

    def _require_started(self) -> Path:
        if self._files_dir is None or self._port == 0:
            raise RuntimeError("the fake vault has not been started")
        return self._files_dir

    @property
    def port(self) -> int:
        self._require_started()
        return self._port

    @property
    def vault_url(self) -> str:
        """``https://127.0.0.1:PORT/``: what kvfs gets as the emulator vault URL."""
        self._require_started()
        return self._state.vault_url

    @property
    def vault_host(self) -> str:
        """``<vault_name>.vault.azure.net`` when serving as a real vault name (map it to the fake's address)."""
        if self.vault_name is None:
            raise RuntimeError("this fake vault serves on its address, not on a vault name")
        return f"{self.vault_name.lower()}.vault.azure.net"

    @property
    def authority_host(self) -> str:
        """``https://127.0.0.1:PORT``: the fake Entra authority (no trailing slash)."""
        self._require_started()
        return self._authority.authority_host

    @property
    def imds_url(self) -> str:
        """``http://127.0.0.1:PORT``: the fake IMDS (what a client puts in ``AZURE_POD_IDENTITY_AUTHORITY_HOST``)."""
        self._require_started()
        return f"http://{_url_host(self.host)}:{self._imds_port}"

    @property
    def oidc_issuer(self) -> str:
        """``https://127.0.0.1:PORT/oidc``: the fake cluster's service-account token issuer (nothing served there)."""
        self._require_started()
        return self._cluster.issuer

    @property
    def challenge_tenant(self) -> str:
        """The tenant the vault's 401 challenge names (``tenant_id`` unless given to the constructor)."""
        return self._challenge_tenant

    @property
    def resource(self) -> str:
        """The vault's audience: what the challenge names and tokens are issued for (no trailing slash)."""
        return self._authority.resource

    @property
    def token_file(self) -> Path:
        """The federated token file (like a projected service-account token); no trailing newline."""
        return self._require_started() / "federated-token"

    @property
    def ca_file(self) -> Path:
        """The CA certificate (PEM) clients must trust for both vault and authority."""
        return self._require_started() / "ca.pem"

    @property
    def client_secret(self) -> str:
        """A client secret the authority also accepts (for MSAL-based ClientSecretCredential)."""
        return self._authority.client_secret

    def info(self) -> dict[str, str]:
        return {
            "vault_url": self.vault_url,
            "authority_host": self.authority_host,
            "tenant_id": self.tenant_id,
            "client_id": self.client_id,
            "client_secret": self.client_secret,  # accepted too: ClientSecretCredential works
            "token_file": str(self.token_file),
            "ca_file": str(self.ca_file),
            "imds_url": self.imds_url,
            "oidc_issuer": self.oidc_issuer,
        }

    def workload_identity_env(self) -> dict[str, str]:
        """Environment for azure-identity's WorkloadIdentityCredential (and requests' CA trust)."""
        return {
            "AZURE_TENANT_ID": self.tenant_id,
            "AZURE_CLIENT_ID": self.client_id,
            "AZURE_FEDERATED_TOKEN_FILE": str(self.token_file),
            "AZURE_AUTHORITY_HOST": self.authority_host,
            "REQUESTS_CA_BUNDLE": str(self.ca_file),
        }

    # -- identity: the cluster, the app registration, the VM, the token service ---------------------

    def write_federated_token(
        self,
        path: Path | None = None,
        *,
        subject: str = FEDERATED_SUBJECT,
        issuer: str | None = None,
        audience: str = FEDERATION_AUDIENCE,
        lifetime: float = 3600,
        not_before: float | None = None,
    ) -> str:
        """Mint a service-account token signed by the fake cluster and write it to ``path`` (default
        ``token_file``) as kubelet does: temporary file, then rename. Returns the token.

        ``issuer`` defaults to ``oidc_issuer``; ``exp`` = now + ``lifetime`` (negative: already expired);
        ``nbf`` = ``not_before`` (epoch seconds) or now.
        """
        token = self._cluster.mint(
            subject=subject,
            issuer=self.oidc_issuer if issuer is None else issuer,
            audience=audience,
            lifetime=lifetime,
            not_before=not_before,
        )
        _write_atomic(Path(path) if path is not None else self.token_file, token, 0o600)
        return token

    def rotate_federated_token(self) -> str:
        """Write a new default token file (a year's lifetime, as at start); earlier tokens stay valid until
        they expire, like rotated service-account tokens. Returns the token."""
        return self.write_federated_token(lifetime=FEDERATED_LIFETIME)

    def add_federated_credential(self, issuer: str, subject: str, audience: str = FEDERATION_AUDIENCE) -> None:
        """Register a federated identity credential on the application (``client_id``). Exact string matches,
        as in Entra. The default one, (``oidc_issuer``, ``FEDERATED_SUBJECT``), is registered at the first start."""
        self._federation.add(issuer, subject, audience)

    def clear_federated_credentials(self) -> None:
        """Remove every federated credential (the default one included): every assertion then gets AADSTS700211."""
        self._federation.clear()

    def federated_credentials(self) -> list[FederatedCredential]:
        return self._federation.list()

    def add_managed_identity(self, client_id: str | None = None) -> ManagedIdentity:
        """Assign a user-assigned identity to the fake VM (``None``: the system-assigned one, assigned by
        default); returns it (client, object and resource ids). Idempotent."""
        return self._imds.add(client_id)

    def clear_managed_identities(self) -> None:
        """Unassign every managed identity, the system-assigned one included (IMDS: "Identity not found")."""
        self._imds.clear()

    def managed_identities(self) -> list[ManagedIdentity]:
        return self._imds.identities()

    def mint_access_token(self, *, client_id: str | None = None, lifetime: float | None = None) -> tuple[str, int]:
        """``(token, expires_on epoch seconds)``: an access token the vault accepts, as a stand-in ``az`` or
        other tool would print it. ``client_id`` defaults to the application; ``lifetime`` to ``token_lifetime``."""
        issued = self._authority.issue(client_id=client_id, lifetime=lifetime)
        return issued.token, issued.expires_on

    def rotate_signing_key(self) -> None:
        """From now on the vault refuses every access token issued before (401 with the challenge), as when the
        service's keys change; the authority, IMDS and ``mint_access_token`` sign with the new key."""
        self._authority.rotate_key()

    # -- direct state access (same code path as the REST API) --------------------------------------

    def set_secret(
        self,
        name: str,
        value: str,
        *,
        content_type: str | None = None,
        enabled: bool = True,
        tags: dict[str, str] | None = None,
    ) -> str:
        """Add a secret version (like ``PUT /secrets/{name}``); returns its 32-hex version id."""
        body: dict[str, Any] = {"value": value, "attributes": {"enabled": enabled}}
        if content_type is not None:
            body["contentType"] = content_type
        if tags is not None:
            body["tags"] = tags
        return _version_of(self._state.set_secret(name, body))

    def create_key(
        self,
        name: str,
        kty: str = "RSA",
        *,
        size: int | None = None,
        crv: str | None = None,
        enabled: bool = True,
        tags: dict[str, str] | None = None,
    ) -> str:
        """Generate a key version (like ``POST /keys/{name}/create``); returns its version id."""
        body: dict[str, Any] = {"kty": kty, "attributes": {"enabled": enabled}}
        if size is not None:
            body["key_size"] = size
        if crv is not None:
            body["crv"] = crv
        if tags is not None:
            body["tags"] = tags
        return _version_of(self._state.create_key(name, body))

    def import_key(
        self,
        name: str,
        jwk: dict[str, Any],
        *,
        hsm: bool = False,
        enabled: bool = True,
        tags: dict[str, str] | None = None,
    ) -> str:
        """Import a JWK (like ``PUT /keys/{name}``); returns its version id."""
        body: dict[str, Any] = {"key": jwk, "Hsm": hsm, "attributes": {"enabled": enabled}}
        if tags is not None:
            body["tags"] = tags
        return _version_of(self._state.import_key(name, body))

    def import_certificate(
        self,
        name: str,
        data: bytes,
        *,
        password: str | None = None,
        content_type: str | None = None,
        enabled: bool = True,
        tags: dict[str, str] | None = None,
    ) -> str:
        """Import PFX or PEM bytes (like ``POST /certificates/{name}/import``); returns the version id
        shared by the certificate, its key and its secret. ``content_type`` defaults to the upload's format."""
        body: dict[str, Any] = {"value": base64.b64encode(data).decode("ascii"), "attributes": {"enabled": enabled}}
        if password is not None:
            body["pwd"] = password
        if content_type is not None:
            body["policy"] = {"secret_props": {"contentType": content_type}}
        if tags is not None:
            body["tags"] = tags
        return _version_of(self._state.import_certificate(name, body))

    def set_enabled(self, collection: str, name: str, version: str | None = None, enabled: bool | None = None) -> str:
        """Enable or disable a version (``None`` = the current one); returns its version id.

        Disabling a certificate version disables its key and secret version too, as in Key Vault.
        """
        if enabled is None:
            raise TypeError("set_enabled() needs enabled=True or enabled=False")
        return self._state.set_enabled(collection, name, version, enabled)

    def get(self, collection: str, name: str, version: str | None = None) -> dict[str, Any]:
        """The JSON the vault would answer for ``GET /{collection}/{name}/{version}``."""
        check_collection(collection)
        return self._state.get(collection, name, version or "")

    def delete(self, collection: str, name: str, *, purge: bool = False) -> None:
        """Delete an object (a certificate takes its key and secret along); ``purge`` frees the name."""
        check_collection(collection)
        self._state.delete(collection, name)
        if purge:
            self._state.purge(collection, name)

    # -- test hooks -------------------------------------------------------------------------------

    def requests(self) -> list[dict[str, Any]]:
        """The request log: ``{"method", "path", "status"}`` in arrival order (not /_fake/ requests)."""
        return self._log.snapshot()

    def clear_requests(self) -> None:
        self._log.clear()

    def add_fault(
        self,
        status: int | None = None,
        retry_after: float | None = None,
        latency_ms: float | None = None,
        count: int | None = None,
        seconds: float | None = None,
        path: str | None = None,
    ) -> int:
        """Inject a fault (see README); returns its id. Raises ValueError for an invalid fault."""
        spec = {
            "status": status,
            "retry_after": retry_after,
            "latency_ms": latency_ms,
            "count": count,
            "seconds": seconds,
            "path": path,
        }
        return self._faults.add({k: v for k, v in spec.items() if v is not None})["id"]

    def faults(self) -> list[dict[str, Any]]:
        """The faults still active."""
        return self._faults.list()

    def set_throttle(self, budget: int, window: float = 10.0) -> None:
        """Admit at most ``budget`` vault requests in any ``window`` seconds (sliding window, per vault, all
        connections together); more are answered 429 ``Throttled`` with ``Retry-After``, as Key Vault does
        (its secrets budget is 4000 per 10 s). Starts with the full budget and zeroed counters; works while
        running. Raises ValueError for ``budget`` < 1 or ``window`` <= 0."""
        self._throttle.set_limit(budget, window)

    def clear_throttle(self) -> None:
        """No throttling any more (the default); zeroes the counters."""
        self._throttle.clear_limit()

    def throttle_stats(self, *, reset: bool = False) -> dict[str, Any]:
        """``{"budget", "window", "admitted", "throttled", "in_window", "peak"}`` (``budget``/``window`` None when
        not throttling); ``reset=True`` zeroes the counters after reading them, in one step."""
        return self._throttle.stats(reset=reset)

    def set_clock(self, clock: Callable[[], float]) -> None:
        """Take the times of new versions from ``clock`` (seconds since the epoch), for tests that
        need distinct or equal ``created`` times without waiting for the real clock."""
        self._state._clock = clock

    def clear_faults(self) -> None:
        self._faults.clear()

    def replace_material(self, collection: str, name: str, version: str | None = None, **material: Any) -> None:
        """Overwrite what a version holds (``value=``, ``content_type=`` for secrets, ``jwk=`` for keys,
        ``cer=`` base64 DER for certificates) as given, skipping every check: Key Vault's API would refuse
        such material or store it differently, and kvfs must still answer it with a one-line error."""
        check_collection(collection)
        self._state.replace_material(collection, name, version or "", material)

"""Key Vault through the real Azure SDK, called from trio in worker threads.

One client per object kind, shared by every object, all on one ``requests`` session sized for
the concurrency bound. SDK and transport exceptions are turned into domain errors (``errors.py``)
that name the object and say what to do; nothing above this module sees an Azure exception.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import requests
import trio
from azure.core.credentials import TokenCredential
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.core.pipeline.transport import RequestsTransport

from ..config import ObjectSpec
from ..content.material import CertificateMaterial, KeyMaterial, Material, SecretMaterial, VersionInfo
from ..errors import (
    AccessDenied,
    AuthenticationFailed,
    BackendError,
    ObjectDisabled,
    ObjectNotFound,
    Throttled,
    TokenRefused,
    VaultUnavailable,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

_PLURAL = {"secret": "secrets", "key": "keys", "cert": "certificates"}
_ROLE_HINT = {
    "secret": "Key Vault Secrets User",
    "key": "Key Vault Crypto User",
    "cert": "Key Vault Certificate User",
}


#: Objects fetched at once. The provider fetches one at a time; 16 loads 200 objects at 50 ms per
#: request in about a second, and stays far below Key Vault's 4,000 reads per 10 s per vault.
DEFAULT_CONCURRENCY = 16


@dataclass(frozen=True)
class BackendSettings:
    vault_url: str
    emulator: bool = False  # relaxes challenge-resource verification: only for an explicit --vault-url
    ca_file: str | None = None
    concurrency: int = DEFAULT_CONCURRENCY
    connect_timeout: float = 5.0
    read_timeout: float = 15.0
    retry_total: int = 3


class VaultBackend:
    """Fetches one version of an object; sync methods run in threads, async ones for trio callers."""

    def __init__(
        self, settings: BackendSettings, credential: TokenCredential, kinds: Iterable[str] = ("secret", "key", "cert")
    ) -> None:
        """Clients are made only for the object kinds in use: each SDK package costs ~0.1 s to import."""
        self.settings = settings
        self.credential = credential
        self.observer: Observer | None = None  # told of every operation: (kind, operation, outcome, seconds)
        self.limiter = trio.CapacityLimiter(settings.concurrency)
        self._session = _session(settings)
        self._clients: list[Any] = []
        kinds = set(kinds)
        if "secret" in kinds:
            from azure.keyvault.secrets import SecretClient

            self.secrets = self._client(SecretClient, credential)
        if "key" in kinds:
            from azure.keyvault.keys import KeyClient

            self.keys = self._client(KeyClient, credential)
        if "cert" in kinds:
            from azure.keyvault.certificates import CertificateClient

            self.certificates = self._client(CertificateClient, credential)

    def _client(self, client_type: Callable[..., T], credential: TokenCredential) -> T:
        client = client_type(self.settings.vault_url, credential, **self._client_options())
        self._clients.append(client)
        return client

    def _client_options(self) -> dict[str, Any]:
        s = self.settings
        transport = RequestsTransport(
            session=self._session,
            session_owner=False,
            connection_timeout=s.connect_timeout,
            read_timeout=s.read_timeout,
            connection_verify=_ca_bundle(s) or True,
        )
        return {
            "transport": transport,
            "verify_challenge_resource": not s.emulator,
            "retry_total": s.retry_total,
            "retry_backoff_max": 8,
        }

    def close(self) -> None:
        for client in self._clients:
            client.close()
        self._session.close()
        if hasattr(self.credential, "close"):
            self.credential.close()

    # -- trio side -----------------------------------------------------------------------------

    async def run(self, func: Callable[[], T]) -> T:
        """Run a blocking SDK call in a worker thread under the shared concurrency bound.

        Cancellation (SIGTERM during a load or a poll) does not wait for the call: the SDK cannot be
        interrupted, and its retries against a failing vault take seconds. The thread finishes on its
        own and its result is dropped.

        A vault that refuses a token the credential still considers valid (its keys changed, the token
        was revoked) would be refused the same cached token for up to an hour: the credential is told
        to fetch a new one, and the call is made once more.
        """
        try:
            return await trio.to_thread.run_sync(func, limiter=self.limiter, abandon_on_cancel=True)
        except TokenRefused:
            invalidate = getattr(self.credential, "invalidate", None)
            if invalidate is None:
                raise
            log.warning("the vault refused a token that was still valid: fetching a new one")
            invalidate()
            return await trio.to_thread.run_sync(func, limiter=self.limiter, abandon_on_cancel=True)

    # ``retry=False`` turns the SDK's own retries off: the rotation task backs off by itself, and the
    # SDK's sleeps (0.8 s, 1.6 s, 3.2 s...) would delay recovery past one poll interval.

    async def fetch(self, spec: ObjectSpec, version: str | None = None, *, retry: bool = True) -> Material:
        return await self.run(
            lambda: self._observed(spec.type, "get", lambda: self.fetch_sync(spec, version, retry=retry))
        )

    async def versions(self, spec: ObjectSpec, *, retry: bool = True) -> list[VersionInfo]:
        return await self.run(
            lambda: self._observed(spec.type, "versions", lambda: self.versions_sync(spec, retry=retry))
        )

    async def list_current(self, kind: str, *, retry: bool = True) -> tuple[dict[str, VersionInfo], int]:
        return await self.run(lambda: self._observed(kind, "list", lambda: self.list_sync(kind, retry=retry)))

    def _observed(self, kind: str, operation: str, call: Callable[[], T]) -> T:
        """Run one vault operation and tell the observer (metrics) its outcome and duration."""
        if self.observer is None:
            return call()
        started = time.monotonic()
        outcome = "ok"
        try:
            return call()
        except BackendError as exc:
            outcome = outcome_of(exc)
            raise
        finally:
            self.observer(kind, operation, outcome, time.monotonic() - started)

    # -- worker-thread side --------------------------------------------------------------------

    def fetch_sync(self, spec: ObjectSpec, version: str | None = None, *, retry: bool = True) -> Material:
        """One version (``version``, else the pinned one, else latest), or a BackendError naming the object."""
        version = spec.version if version is None else version
        options = _call_options(retry)
        try:
            material: Material
            if spec.type == "secret":
                material = self._secret(spec.name, version, options)
            elif spec.type == "key":
                material = self._key(spec.name, version, options)
            else:
                material = self._certificate(spec.name, version, options)
        except Exception as exc:
            raise translate_error(exc, spec, what=describe(spec, version)) from None
        if not material.info.enabled:
            # Key Vault returns a disabled key or certificate (200, enabled: false), and the provider serves
            # it; only secrets answer 403. kvfs treats every kind alike: a disabled version is not served.
            raise ObjectDisabled(
                f"{describe(spec, version)} is disabled in the vault (kvfs serves no disabled version of any kind)",
                object_name=spec.name,
            )
        return material

    def list_sync(self, kind: str, *, retry: bool = True) -> tuple[dict[str, VersionInfo], int]:
        """The current version of every object of a kind, by lower-case name, and the list calls it took.

        A list item describes the latest version (no version id): its times and enabled flag are
        enough to tell whether an object changed since it was fetched.
        """
        client = getattr(self, {"secret": "secrets", "key": "keys", "cert": "certificates"}[kind])
        lister = {
            "secret": "list_properties_of_secrets",
            "key": "list_properties_of_keys",
            "cert": "list_properties_of_certificates",
        }[kind]
        current: dict[str, VersionInfo] = {}
        calls = 0
        try:
            for page in getattr(client, lister)(**_call_options(retry)).by_page():
                calls += 1
                for p in page:
                    current[(p.name or "").lower()] = VersionInfo(
                        p.name or "", "", p.created_on, p.updated_on, bool(p.enabled)
                    )
        except Exception as exc:
            raise translate_error(exc, kind=kind, what=f"listing the vault's {_PLURAL[kind]}") from None
        return current, calls

    def versions_sync(self, spec: ObjectSpec, *, retry: bool = True) -> list[VersionInfo]:
        """Every version of the object (enabled or not), in the order the vault lists them."""
        options = _call_options(retry)
        try:
            if spec.type == "secret":
                pages = self.secrets.list_properties_of_secret_versions(spec.name, **options)
            elif spec.type == "key":
                pages = self.keys.list_properties_of_key_versions(spec.name, **options)
            else:
                pages = self.certificates.list_properties_of_certificate_versions(spec.name, **options)
            versions = [
                VersionInfo(spec.name, p.version or "", p.created_on, p.updated_on, bool(p.enabled)) for p in pages
            ]
        except Exception as exc:
            raise translate_error(exc, spec) from None
        if not versions:
            raise ObjectNotFound(f"{describe(spec, '')} was not found in the vault", object_name=spec.name)
        return versions

    def _secret(self, name: str, version: str, options: dict[str, Any]) -> SecretMaterial:
        secret = self.secrets.get_secret(name, version or None, **options)
        props = secret.properties
        return SecretMaterial(
            info=VersionInfo(name, props.version or "", props.created_on, props.updated_on, bool(props.enabled)),
            value=secret.value or "",
            content_type=props.content_type,
            kid=props.key_id,
        )

    def _key(self, name: str, version: str, options: dict[str, Any]) -> KeyMaterial:
        key = self.keys.get_key(name, version or None, **options)
        props, jwk = key.properties, key.key
        return KeyMaterial(
            info=VersionInfo(name, props.version or "", props.created_on, props.updated_on, bool(props.enabled)),
            kty=_enum_text(jwk.kty),
            n=jwk.n,
            e=jwk.e,
            crv=_enum_text(jwk.crv) if jwk.crv else None,
            x=jwk.x,
            y=jwk.y,
        )

    def _certificate(self, name: str, version: str, options: dict[str, Any]) -> CertificateMaterial:
        cert = (
            self.certificates.get_certificate_version(name, version, **options)
            if version
            else self.certificates.get_certificate(name, **options)
        )
        props = cert.properties
        return CertificateMaterial(
            info=VersionInfo(name, props.version or "", props.created_on, props.updated_on, bool(props.enabled)),
            cer=bytes(cert.cer or b""),
        )


Observer = Callable[[str, str, str, float], None]

_OUTCOMES: tuple[tuple[type[BackendError], str], ...] = (
    (ObjectNotFound, "not_found"),
    (ObjectDisabled, "disabled"),
    (AccessDenied, "forbidden"),
    (AuthenticationFailed, "unauthenticated"),
    (Throttled, "throttled"),
    (VaultUnavailable, "unavailable"),
)


def outcome_of(error: BackendError) -> str:
    """The metrics label of a failed vault operation."""
    return next((label for kind, label in _OUTCOMES if isinstance(error, kind)), "error")


def _call_options(retry: bool) -> dict[str, Any]:
    return {} if retry else {"retry_total": 0}


def _ca_bundle(settings: BackendSettings) -> str | None:
    """--ca-file, else the bundle requests would take from the environment."""
    return settings.ca_file or os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or None


def _session(settings: BackendSettings) -> requests.Session:
    """One connection pool for all clients, sized for the concurrency bound.

    The environment (proxies, CA bundle) is read once here instead of on every request, which
    requests would otherwise do at a cost of about a millisecond of CPU per call.
    """
    session = requests.Session()
    session.trust_env = False
    session.proxies.update(requests.utils.get_environ_proxies(settings.vault_url))
    adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=max(10, settings.concurrency))
    session.mount("https://", adapter)
    return session


def _first_line(text: str, limit: int = 200) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


def describe(spec: ObjectSpec, version: str | None = None) -> str:
    """How backend errors name an object: ``secret 'db' version abc``."""
    version = spec.version if version is None else version
    return f"{spec.type} {spec.name!r}" + (f" version {version}" if version else "")


def translate_error(
    exc: Exception, spec: ObjectSpec | None = None, *, kind: str | None = None, what: str | None = None
) -> BackendError:
    """A one-line domain error for an SDK or transport exception, naming the object and the fix."""
    kind = spec.type if spec is not None else kind or "secret"
    what = what or (describe(spec) if spec is not None else f"{kind}s")
    name = spec.name if spec is not None else None
    if isinstance(exc, BackendError):
        return exc
    if isinstance(exc, ClientAuthenticationError):
        if _status(exc) == 401:  # the vault refused the token it was given
            return TokenRefused(
                f"the vault refused the token for {what}: {_first_line(exc.message or '')}", object_name=name
            )
        return AuthenticationFailed(
            f"cannot get a token to read {what}: {_first_line(exc.message or str(exc))}", object_name=name
        )
    if isinstance(exc, ServiceRequestError | ServiceResponseError):
        return VaultUnavailable(f"cannot reach the vault for {what}: {_first_line(str(exc))}", object_name=name)
    if isinstance(exc, HttpResponseError):
        status = _status(exc)
        code = _error_code(exc)
        if status == 404:
            return ObjectNotFound(f"{what} was not found in the vault", object_name=name)
        if status == 403 and code.endswith("Disabled"):
            return ObjectDisabled(f"{what} is disabled in the vault", object_name=name)
        if status == 403:
            return AccessDenied(
                f"access denied to {what}: grant the identity the '{_ROLE_HINT[kind]}' role on the vault "
                f"(or a get permission in its access policy)",
                object_name=name,
            )
        if status == 429:
            return Throttled(
                f"the vault is throttling requests (429) for {what}",
                object_name=name,
                retry_after=_retry_after(exc),
            )
        if status is not None and (status >= 500 or status == 408):
            return VaultUnavailable(f"the vault answered {status} for {what}", object_name=name)
        return BackendError(f"the vault answered {status} ({code or 'no code'}) for {what}", object_name=name)
    log.debug("unexpected error fetching %s", what, exc_info=exc)
    return BackendError(f"unexpected error fetching {what}: {type(exc).__name__}", object_name=name)


def _retry_after(exc: HttpResponseError) -> float | None:
    """The seconds a 429 asked us to wait, when it said (Retry-After in seconds)."""
    headers = getattr(exc.response, "headers", None) or {}
    try:
        return float(headers.get("Retry-After", ""))
    except ValueError:
        return None


def _enum_text(value: object) -> str:
    """The wire text of an SDK enum member (``KeyType.EC`` → ``"EC"``), or the string itself."""
    return str(getattr(value, "value", value))


def _status(exc: Exception) -> int | None:
    status = getattr(exc, "status_code", None)
    if status is None and getattr(exc, "response", None) is not None:
        status = getattr(exc.response, "status_code", None)  # type: ignore[attr-defined]
    return status


def _error_code(exc: HttpResponseError) -> str:
    """The innermost Key Vault error code (``SecretDisabled`` rather than ``Forbidden``)."""
    error = exc.error
    if error is None:
        return ""
    inner = getattr(error, "innererror", None) or {}
    if isinstance(inner, dict) and inner.get("code"):
        return str(inner["code"])
    return str(error.code or "")

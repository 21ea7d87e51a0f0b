"""Writing Secrets the Kubernetes way: lightkube's AsyncClient under trio, server-side apply as ``kvfs``.

Every pod that syncs a Secret applies as the same field manager, so an apply must carry every owner
reference ``kvfs`` owns on that Secret (the other pods' and its own), or the API server would drop
the others. The writer learns them from the Secret's ``managedFields`` (one GET the first time, then
each apply's answer) and applies with the ``resourceVersion`` it last saw, so that two pods writing at
once cannot lose each other's reference: the loser gets 409, reads again and retries.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx2
from lightkube import ApiError, AsyncClient, KubeConfig
from lightkube.core.exceptions import ConfigError as LightkubeConfigError
from lightkube.resources.core_v1 import Secret

from ...errors import ConfigError, KubernetesError
from .manifests import SecretManifest
from .settings import FIELD_MANAGER, KubeSettings

log = logging.getLogger(__name__)

ROLE_RULE = '{apiGroups: [""], resources: ["secrets"], verbs: ["get", "create", "patch"]}'
_FORBIDDEN = re.compile(r'User "(?P<user>[^"]*)" cannot (?P<verb>\w+) resource "(?P<resource>[^"]*)"')
_MANAGER = re.compile(r'conflicts? with "(?P<manager>[^"]+)"')
_ATTEMPTS = 3


def open_writer(settings: KubeSettings, *, timeout: float = 10.0) -> SecretWriter:
    """A writer on lightkube's AsyncClient (whose in-cluster auth re-reads the token after a 401)."""
    try:
        if settings.kubeconfig is not None:
            config = KubeConfig.from_file(settings.kubeconfig).get()
        else:
            config = KubeConfig.from_service_account(settings.service_account_dir).get()
        client = AsyncClient(config, namespace=settings.namespace, field_manager=FIELD_MANAGER, timeout=timeout)
    except (LightkubeConfigError, OSError, KeyError, ValueError, AssertionError, AttributeError) as exc:
        raise ConfigError(f"Kubernetes configuration from {settings.source} cannot be used: {exc}") from None
    return SecretWriter(settings, client, server=config.cluster.server)


@dataclass
class _Seen:
    """What the writer knows of one Secret on the server."""

    resource_version: str | None = None
    owners: list[dict[str, str]] = field(default_factory=list)  # the owner references kvfs owns there


class SecretWriter:
    """Applies Secret manifests; counts the API calls it makes (``calls``) and raises KubernetesError."""

    def __init__(self, settings: KubeSettings, client: AsyncClient, *, server: str) -> None:
        self.settings = settings
        self.client = client
        self.server = server
        self.calls: Counter[str] = Counter()
        self._seen: dict[str, _Seen] = {}
        self._conflicts_reported: set[tuple[str, str]] = set()
        if settings.owner is None:
            log.info("no POD_NAME/POD_UID: synced Secrets get no owner reference and outlive this process")

    async def write(self, manifest: SecretManifest) -> None:
        for _ in range(_ATTEMPTS):
            seen = self._seen.get(manifest.name) or await self._read(manifest.name)
            body = manifest.body(
                self.settings.namespace, owners=self._owners(seen), resource_version=seen.resource_version
            )
            try:
                answer = await self._apply(manifest.name, body, force=False)
            except ApiError as exc:
                if _field_conflict(exc):
                    self._report_conflict(manifest.name, exc)
                    answer = await self._apply(manifest.name, body, force=True)
                elif _stale(exc, seen):  # someone else wrote or deleted it since: read again
                    self._seen.pop(manifest.name, None)
                    continue
                else:  # an apply that would create the Secret is authorized as create too
                    raise self._error(exc, manifest.name, "patch" if seen.resource_version else "create") from None
            self._remember(manifest.name, answer)
            return
        raise KubernetesError(
            f'Secret "{manifest.name}" kept changing while kvfs wrote it ({_ATTEMPTS} attempts); retrying later',
            transient=True,
        )

    async def close(self) -> None:
        await self.client.close()

    # -- requests ------------------------------------------------------------------------------

    async def _read(self, name: str) -> _Seen:
        self.calls["get"] += 1
        try:
            secret = await self.client.get(Secret, name, namespace=self.settings.namespace)
        except ApiError as exc:
            if exc.status.code == 404:
                return _Seen()
            raise self._error(exc, name, "get") from None
        except httpx2.HTTPError as exc:
            raise self._error(exc, name, "get") from None
        return _seen_in(secret.to_dict())

    async def _apply(self, name: str, body: dict[str, Any], *, force: bool) -> dict[str, Any]:
        self.calls["apply"] += 1
        try:
            answer = await self.client.apply(
                Secret.from_dict(body), namespace=self.settings.namespace, field_manager=FIELD_MANAGER, force=force
            )
        except ApiError:
            raise  # the caller decides: a conflict may be retried (ApiError is an httpx2.HTTPError too)
        except httpx2.HTTPError as exc:
            raise self._error(exc, name, "patch") from None
        return answer.to_dict()

    def _owners(self, seen: _Seen) -> list[dict[str, str]]:
        owners = list(seen.owners)
        mine = self.settings.owner
        if mine is not None and all(o.get("uid") != mine.uid for o in owners):
            owners.append(mine.reference())
        return owners

    def _remember(self, name: str, answer: dict[str, Any]) -> None:
        self._seen[name] = _seen_in(answer)

    def _report_conflict(self, name: str, exc: ApiError) -> None:
        message = exc.status.message or ""
        managers = ", ".join(sorted({m.group("manager") for m in _MANAGER.finditer(message)})) or "another manager"
        if (name, managers) not in self._conflicts_reported:
            self._conflicts_reported.add((name, managers))
            causes = (exc.status.details.causes if exc.status.details else None) or []
            fields = ", ".join(c.field for c in causes if c.field)
            log.warning(
                'Secret "%s": %s also manage%s %s (409 Conflict); kvfs applies its values over them '
                "(server-side apply, force): the other writer is overridden at every change",
                name,
                managers,
                "" if "," in managers else "s",
                fields or "fields kvfs writes",
            )

    # -- errors --------------------------------------------------------------------------------

    def _error(self, exc: Exception, name: str, verb: str) -> KubernetesError:
        """One line that says what to fix."""
        ns = self.settings.namespace
        what = f'Secret "{name}" in namespace "{ns}"'
        if isinstance(exc, ApiError):
            status = exc.status
            code, message = status.code or 0, _one_line(status.message or "")
            if code == 401:
                hint = (
                    f"the token in {self.settings.service_account_dir / 'token'} was read again and is still refused"
                    if self.settings.kubeconfig is None
                    else f"check the user of {self.settings.kubeconfig}"
                )
                return KubernetesError(f"the Kubernetes API refused kvfs's credentials (401) for {what}: {hint}")
            if code == 403:
                found = _FORBIDDEN.search(message)
                who = found.group("user") if found else "kvfs's identity"
                missing = f"{found.group('verb')} {found.group('resource')}" if found else f"{verb} secrets"
                return KubernetesError(
                    f'{who} may not {missing} in namespace "{ns}" (403 Forbidden) for {what}; '
                    f"add this rule to its Role: {ROLE_RULE}"
                )
            if code == 422:
                return KubernetesError(f"the Kubernetes API refused {what} (422 Invalid): {message}")
            transient = code == 429 or code >= 500
            return KubernetesError(f"the Kubernetes API answered {code} for {what}: {message}", transient=transient)
        if isinstance(exc, httpx2.HTTPStatusError):
            code = exc.response.status_code
            return KubernetesError(
                f"the Kubernetes API answered {code} for {what}", transient=code == 429 or code >= 500
            )
        return KubernetesError(
            f"cannot reach the Kubernetes API at {self.server} for {what}: {type(exc).__name__}", transient=True
        )


def _seen_in(obj: dict[str, Any]) -> _Seen:
    """Resource version and the owner references ``kvfs`` owns (by its managedFields entry)."""
    metadata = obj.get("metadata") or {}
    owned_uids: set[str] = set()
    for entry in metadata.get("managedFields") or []:
        if entry.get("manager") == FIELD_MANAGER and entry.get("operation") == "Apply":
            refs = ((entry.get("fieldsV1") or {}).get("f:metadata") or {}).get("f:ownerReferences") or {}
            for key in refs:
                if key.startswith("k:"):
                    try:
                        owned_uids.add(json.loads(key[2:]).get("uid", ""))
                    except ValueError:
                        continue
    owners = [
        {k: ref[k] for k in ("apiVersion", "kind", "name", "uid") if k in ref}
        for ref in metadata.get("ownerReferences") or []
        if ref.get("uid") in owned_uids
    ]
    return _Seen(metadata.get("resourceVersion"), owners)


def _field_conflict(exc: ApiError) -> bool:
    details = exc.status.details
    causes = (details.causes if details else None) or []
    return exc.status.code == 409 and any(c.reason == "FieldManagerConflict" for c in causes)


def _stale(exc: ApiError, seen: _Seen) -> bool:
    """The resourceVersion kvfs sent no longer matches (or the Secret went away meanwhile)."""
    return seen.resource_version is not None and exc.status.code in (404, 409)


def _one_line(text: str) -> str:
    return " ".join(text.split())

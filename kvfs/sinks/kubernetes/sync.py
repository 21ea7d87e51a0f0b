"""Kubernetes Secrets kept in step with the served files: the ``secretObjects`` sink.

Each change set rebuilds every Secret from the files; a Secret is written only when what it would
hold differs from what kvfs last wrote, so an idle poll costs no API call and a new version costs one
apply per Secret that uses it. A failed write never touches the files: it is logged once per distinct
error, counted, and retried with backoff until it succeeds.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

import trio

from ...backoff import Backoff
from ...config import SecretObject
from ...content.files import ChangeSet, FileContent
from ...errors import KubernetesError
from .client import SecretWriter
from .manifests import SecretBuildError, SecretManifest, build_secret

log = logging.getLogger(__name__)


@dataclass
class SyncStats:
    written: int = 0  # Secret writes that succeeded
    failures: Counter[str] = field(default_factory=Counter)  # "kubernetes" (API) or "content" (cannot build)

    def summary(self, calls: Counter[str]) -> str:
        failures = ", ".join(f"{k} {v}" for k, v in sorted(self.failures.items())) or "none"
        return f"{self.written} Secret writes, API calls: {dict(calls) or 'none'}, failures: {failures}"


class SecretSync:
    name = "secrets"

    def __init__(
        self,
        secret_objects: tuple[SecretObject, ...],
        writer: SecretWriter,
        *,
        retry_ceiling: float = 60.0,
        publish_deadline: float = 30.0,
    ) -> None:
        self.secret_objects = secret_objects
        self.writer = writer
        self.publish_deadline = publish_deadline
        self.stats = SyncStats()
        self._files: dict[str, FileContent] = {}
        self._written: dict[str, bytes] = {}  # secretName → digest of what kvfs last wrote
        self._unwritten: set[str] = set(s.secret_name for s in secret_objects)
        self._reported: dict[str, str] = {}  # secretName → the error last logged, so that each is logged once
        self._transient: set[str] = set()  # secretNames whose last failure was transient
        self._lock = trio.Lock()
        self._retry = trio.Event()
        self._backoff = Backoff(retry_ceiling)

    @property
    def all_written(self) -> bool:
        """Every Secret holds what the files say now."""
        return not self._unwritten

    @property
    def written_count(self) -> int:
        return len(self.secret_objects) - len(self._unwritten)

    @property
    def retryable(self) -> bool:
        """Some Secret is unwritten because of the API (not because its content is missing): trying again
        may help, if only once someone grants a permission."""
        return any(self._reported.get(name, "").startswith("kubernetes:") for name in self._unwritten)

    @property
    def transient_failures(self) -> bool:
        """Some Secret is unwritten because of an outage, throttling or a timeout: trying again soon may help."""
        return bool(self._transient & self._unwritten)

    def update_files(self, change: ChangeSet) -> None:
        """The files the next ``sync`` builds Secrets from."""
        self._files = change.by_path()

    async def publish(self, change: ChangeSet) -> None:
        """Write what changed; what cannot be written in time is left to the retry task."""
        self.update_files(change)
        with trio.move_on_after(self.publish_deadline):
            await self.sync()
        if not self.all_written:
            self._retry.set()

    async def sync(self) -> bool:
        """One pass over every Secret: write those that differ from what was last written."""
        async with self._lock:
            for secret in self.secret_objects:
                await self._sync_one(secret)
        return self.all_written

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Retry failed writes with backoff (capped) until every Secret is written."""
        task_status.started()
        while True:
            await self._retry.wait()
            self._retry = trio.Event()
            while self.retryable:
                await trio.sleep(self._backoff.next_delay())
                await self.sync()
            self._backoff.reset()

    async def _sync_one(self, secret: SecretObject) -> None:
        name = secret.secret_name
        try:
            manifest = build_secret(secret, self._files)
        except SecretBuildError as exc:
            self._unwritten.add(name)
            self._fail(name, "content", exc, logging.WARNING)
            return
        digest = manifest.digest()
        if self._written.get(name) == digest:
            self._unwritten.discard(name)
            return
        self._unwritten.add(name)
        try:
            await self.writer.write(manifest)
        except KubernetesError as exc:
            self._fail(name, "kubernetes", exc, logging.WARNING if exc.transient else logging.ERROR)
            if exc.transient:
                self._transient.add(name)
            else:
                self._transient.discard(name)
            return
        self._transient.discard(name)
        self._written[name] = digest
        self._unwritten.discard(name)
        self.stats.written += 1
        self._succeeded(manifest)

    def _fail(self, name: str, kind: str, exc: Exception, level: int) -> None:
        self.stats.failures[kind] += 1
        message = f"{kind}: {exc}"
        if self._reported.get(name) != message:
            self._reported[name] = message
            log.log(level, "%s", exc, extra={"secret": name})

    def _succeeded(self, manifest: SecretManifest) -> None:
        if self._reported.pop(manifest.name, None) is not None:
            log.info('Secret "%s" written; the earlier failure is over', manifest.name, extra={"secret": manifest.name})
        else:
            keys = ", ".join(sorted(manifest.data))
            log.info(
                'Secret "%s" written (%s, keys: %s)',
                manifest.name,
                manifest.type,
                keys,
                extra={"secret": manifest.name},
            )

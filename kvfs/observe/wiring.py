"""One object the daemon hands each part to, so that metrics and probes see them (and nothing when off)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import trio

from .health import Health

if TYPE_CHECKING:
    from ..engine.lazy import LazyContent
    from ..engine.rotation import Rotator
    from ..sinks.fuse.operations import KvfsOperations
    from ..sinks.hooks import ChangeHooks
    from ..sinks.kubernetes.sync import SecretSync
    from ..vault.backend import VaultBackend
    from .metrics import Metrics


class Observability:
    """Metrics and health for one daemon; inert unless ``address`` is given (``--metrics-addr``), and then
    prometheus-client and hypercorn are imported (they cost start-up time a daemon without them need not pay)."""

    def __init__(self, address: str | None, *, mountpoint: Path | None, poll_interval: float | None) -> None:
        self.address = address
        self.health = Health(mountpoint=mountpoint, poll_interval=poll_interval)
        self.metrics: Metrics | None = None
        if address is not None:
            from .metrics import Metrics

            self.metrics = Metrics()
            self.metrics.sources.ready = lambda: self.health.ready
        self.url: str | None = None

    async def start(self, nursery: trio.Nursery, stop: trio.Event) -> None:
        if self.address is not None and self.metrics is not None:
            from .server import Endpoints, serve_endpoints

            endpoints = Endpoints(self.metrics, self.health)
            self.url = await nursery.start(serve_endpoints, self.address, endpoints, stop)

    def watch_backend(self, backend: VaultBackend) -> None:
        tokens = getattr(backend.credential, "stats", None)
        self.health.tokens = tokens
        if self.metrics is not None:
            backend.observer = self.metrics.observe_vault
            self.metrics.sources.tokens = tokens

    def watch_engine(
        self, rotator: Callable[[], Rotator | None], objects: Callable[[], int], files: Callable[[], int]
    ) -> None:
        if self.metrics is not None:
            self.metrics.sources.rotator = rotator
            self.metrics.sources.objects_served = objects
            self.metrics.sources.files_served = files
        self.health.objects = objects

        def age() -> float | None:
            current = rotator()
            return None if current is None else current.stats.seconds_since_success()

        self.health.last_success_age = age

    def watch_fuse(self, operations: KvfsOperations) -> None:
        if self.metrics is not None:
            self.metrics.sources.operations = operations

    def watch_lazy(self, content: LazyContent) -> None:
        if self.metrics is not None:
            self.metrics.sources.lazy = content

    def watch_hooks(self, hooks: ChangeHooks) -> None:
        if self.metrics is not None:
            self.metrics.sources.hooks = hooks

    def watch_secrets(self, secrets: SecretSync) -> None:
        if self.metrics is not None:
            self.metrics.sources.secrets = secrets
        self.health.secrets_unwritten = lambda: len(secrets.secret_objects) - secrets.written_count

    def set_ready(self) -> None:
        self.health.ready = True

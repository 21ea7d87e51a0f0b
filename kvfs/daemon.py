"""The daemon: load every object, then serve it through the sinks a command asks for, until a signal.

``run_mount``: the FUSE mount (and, when the class has ``secretObjects``, Kubernetes Secrets) plus
hooks. ``run_sync``: Kubernetes Secrets and hooks, no mount. Everything runs in one trio nursery. The
mount appears only after every object is loaded, so "the mountpoint is a mount" means "ready".
SIGTERM and SIGINT end the FUSE loop and unmount (or end the sync); SIGHUP polls at once.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pyfuse3
import trio

from .backoff import Backoff
from .config import ProviderClass
from .content.files import ChangeSet, LazyRef
from .engine.lazy import CacheLimits, Files, LazyContent
from .engine.loader import Loaded, fetch_object, files_for, load_all
from .engine.rotation import Rotator, served_from
from .errors import ConfigError, MountError
from .observe.wiring import Observability
from .sinks.base import Publisher, Sink
from .sinks.fuse.audit import DEFAULT_COALESCE, AuditSink, AuditTrail
from .sinks.fuse.mountpoint import mount_options, raise_max_background
from .sinks.fuse.operations import KvfsOperations
from .sinks.fuse.sink import FuseSink
from .sinks.fuse.store import Snapshot, Store
from .sinks.hooks import ChangeHooks, HookOptions
from .vault.backend import DEFAULT_CONCURRENCY, BackendSettings, VaultBackend
from .vault.identity import IdentityOptions, build_credential

if TYPE_CHECKING:
    from .sinks.directory.sink import DirectorySink
    from .sinks.kubernetes.sync import SecretSync

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VaultOptions:
    """How to reach the vault: an explicit (emulator) URL or the class's keyvaultName and cloud."""

    vault_url: str | None = None
    ca_file: str | None = None
    concurrency: int = DEFAULT_CONCURRENCY
    read_timeout: float = 15.0
    identity: IdentityOptions = field(default_factory=IdentityOptions)


@dataclass(frozen=True)
class MountOptions:
    mountpoint: Path
    uid: int
    gid: int
    allow_other: bool = True
    split_cert_files: bool = False  # <alias>.crt and <alias>.key beside every certificate's file
    cache: CacheLimits = field(default_factory=CacheLimits)  # content of pattern matches, fetched on open
    audit: AuditSink | None = None  # --audit-log, opened (and so checked) before anything is mounted
    audit_coalesce: float = DEFAULT_COALESCE


def open_backend(
    provider_class: ProviderClass, options: VaultOptions, environ: Mapping[str, str] | None = None
) -> VaultBackend:
    """Credential plus SDK clients. Challenge-resource checks relax only for an explicit vault URL."""
    environ = os.environ if environ is None else environ
    if options.vault_url:
        url, emulator = options.vault_url, True
        if not url.startswith("https://"):
            raise ConfigError(f"--vault-url {url}: Key Vault clients need https://")
    else:
        url, emulator = provider_class.vault_url, False
    if options.ca_file and not Path(options.ca_file).is_file():
        raise ConfigError(f"--ca-file {options.ca_file}: no such file")
    credential = build_credential(provider_class, environ, ca_file=options.ca_file, options=options.identity)
    settings = BackendSettings(
        vault_url=url,
        emulator=emulator,
        ca_file=options.ca_file,
        concurrency=options.concurrency,
        read_timeout=options.read_timeout,
    )
    log.info("vault %s%s", url, " (emulator: challenge-resource check relaxed)" if emulator else "")
    return VaultBackend(settings, credential, kinds={spec.type for spec in provider_class.objects})


def raise_first_failure(loaded: Loaded) -> None:
    """Log every failed object, then raise the first (in config order) so the exit names an object."""
    if not loaded.failures:
        return
    ordered = [loaded.failures[i] for i in sorted(loaded.failures)]
    for failure in ordered[1:]:
        log.error("%s", failure)
    first = ordered[0]
    if len(ordered) > 1:
        first.args = (f"{first} (and {len(ordered) - 1} more objects failed, logged above)",)
    raise first


@dataclass(frozen=True)
class RotationOptions:
    interval: float | None = 120.0  # seconds between polls; None turns rotation off
    hooks: HookOptions = field(default_factory=HookOptions)
    start_timeout: float = 300.0  # seconds start-up retries a throttled or failing vault (0: the SDK's retries only)


class _Engine:
    """What every command shares: the initial load, the rotation engine, signals, and the sinks."""

    def __init__(
        self,
        provider_class: ProviderClass,
        backend: VaultBackend,
        rotation: RotationOptions,
        *,
        split: bool,
        lazy_patterns: bool = False,
    ) -> None:
        self.provider_class = provider_class
        self.backend = backend
        self.rotation = rotation
        self.split = split
        self.lazy_patterns = lazy_patterns
        self.rotator: Rotator | None = None
        self.loaded = Loaded()

    async def load(self) -> ChangeSet:
        """Every object, or the first failure (in configuration order) raised."""
        self.loaded = await load_all(
            self.backend,
            self.provider_class.objects,
            split=self.split,
            lazy_patterns=self.lazy_patterns,
            start_timeout=self.rotation.start_timeout,
        )
        raise_first_failure(self.loaded)
        return ChangeSet(1, tuple(self.loaded.all_files()))

    def make_rotator(self, publisher: Publisher) -> Rotator | None:
        """Made before serving starts, so that a SIGHUP from then on is not lost."""
        if self.rotation.interval is None:
            return None
        self.rotator = Rotator(
            self.backend,
            served_from(self.loaded),
            publisher.publish,
            interval=self.rotation.interval,
            split=self.split,
            patterns=[s for s in self.provider_class.objects if s.is_pattern and s.type not in self.loaded.unlisted],
            lazy_patterns=self.lazy_patterns,
        )
        return self.rotator

    async def start_rotation(self, nursery: trio.Nursery) -> None:
        if self.rotator is not None:
            await nursery.start(self.rotator.run)
            log.info("rotation: polling every %ss", f"{self.rotation.interval:g}")

    async def watch_signals(self, stop: Callable[[str], None]) -> None:
        """SIGHUP polls now; SIGTERM or SIGINT calls ``stop``."""
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as signals:
            async for signum in signals:
                if signum != signal.SIGHUP:
                    stop(signal.Signals(signum).name)
                    return
                if self.rotator is not None:
                    log.info("SIGHUP received: polling the vault now")
                    self.rotator.request_refresh()
                elif self.rotation.interval is None:
                    log.info("SIGHUP received: rotation is off, nothing to refresh")
                else:
                    log.info("SIGHUP received while loading: the content is being fetched now")

    def objects_served(self) -> int:
        """Objects that have content, a pattern's matches included (an optional one missing from the
        vault has none; a lazily served match counts: its content is a first open away)."""
        if self.rotator is not None:
            return sum(1 for served in self.rotator.served.values() if served.materials or served.lazy)
        return len(self.loaded.files)

    def files_served(self) -> int:
        if self.rotator is not None:
            return len(self.rotator.current_files())
        return len(self.loaded.all_files())

    def log_summary(self, secrets: SecretSync | None) -> None:
        if self.rotator is not None:
            log.info("rotation: %s", self.rotator.stats.summary())
        if secrets is not None:
            log.info("secrets: %s", secrets.stats.summary(secrets.writer.calls))


async def run_mount(
    provider_class: ProviderClass,
    backend: VaultBackend,
    mount: MountOptions,
    rotation: RotationOptions | None = None,
    *,
    secrets: SecretSync | None = None,
    observe: Observability | None = None,
    on_ready: Callable[[Snapshot], None] | None = None,
) -> None:
    """Load, mount, keep content current, serve until SIGTERM/SIGINT or an external unmount, then unmount.

    The sinks, in order: the mount, then the class's Kubernetes Secrets (``secrets``), then hooks. The
    mount does not wait for the Secrets: it is ready once its files are. The caller has checked the
    mountpoint (``prepare_mountpoint``) before opening the backend, so a bad one fails first.
    """
    rotation = rotation or RotationOptions()
    observe = observe or Observability(None, mountpoint=mount.mountpoint, poll_interval=rotation.interval)
    lazy = _lazy_patterns(provider_class, syncing_secrets=secrets is not None)
    engine = _Engine(provider_class, backend, rotation, split=mount.split_cert_files, lazy_patterns=lazy)
    started = time.monotonic()
    mounted = False

    async with trio.open_nursery() as nursery:

        def stop(signal_name: str) -> None:
            log.info("%s received: unmounting", signal_name)
            if mounted:
                pyfuse3.terminate()
            else:
                nursery.cancel_scope.cancel()

        nursery.start_soon(engine.watch_signals, stop)
        await observe.start(nursery, trio.Event())  # probes answer (not ready) while loading
        observe.watch_backend(backend)
        initial = await engine.load()
        store = Store()
        content = LazyContent(_fetcher(backend), mount.cache) if lazy else None
        audit = AuditTrail(mount.audit, coalesce=mount.audit_coalesce) if mount.audit is not None else None
        if audit is not None:
            await nursery.start(audit.run)
        operations = KvfsOperations(store, uid=mount.uid, gid=mount.gid, lazy=content, audit=audit)
        files = FuseSink(store, operations)
        await files.publish(initial)
        hooks = ChangeHooks(rotation.hooks, mount.mountpoint)
        engine.make_rotator(Publisher([files, *([secrets] if secrets else []), hooks]))
        observe.watch_engine(lambda: engine.rotator, engine.objects_served, lambda: store.current.file_count)
        observe.watch_fuse(operations)
        observe.watch_hooks(hooks)
        if secrets is not None:
            observe.watch_secrets(secrets)
        if content is not None:
            observe.watch_lazy(content)
            nursery.start_soon(content.run)
        try:
            pyfuse3.init(operations, str(mount.mountpoint), mount_options(allow_other=mount.allow_other))
        except RuntimeError as exc:
            raise MountError(f"cannot mount {mount.mountpoint}: {exc}") from None
        mounted = files.mounted = True
        try:
            raise_max_background(mount.mountpoint)
            log.info(
                "ready: %d files from %d objects at %s in %.2fs%s",
                len(initial.files),
                engine.objects_served(),
                mount.mountpoint,
                time.monotonic() - started,
                f" ({sum(1 for f in initial.files if f.lazy)} fetched on first open)" if lazy else "",
                extra={"duration": round(time.monotonic() - started, 3)},
            )
            observe.set_ready()
            if on_ready is not None:
                on_ready(store.current)
            await nursery.start(hooks.run)
            if secrets is not None:
                await nursery.start(secrets.run)
                nursery.start_soon(secrets.publish, initial)  # after the files, without delaying them
            await engine.start_rotation(nursery)
            await pyfuse3.main()
            log.info("unmounted %s; FUSE requests served: %s", mount.mountpoint, dict(operations.requests))

            engine.log_summary(secrets)
        finally:
            pyfuse3.close(unmount=True)
            nursery.cancel_scope.cancel()


def _lazy_patterns(provider_class: ProviderClass, *, syncing_secrets: bool) -> bool:
    """A mount serves pattern matches lazily, unless a synced Secret is made from one (it needs content)."""
    patterns = [spec for spec in provider_class.objects if spec.is_pattern]
    if not patterns:
        return False
    if syncing_secrets and any(
        pattern.matches(data.object_name)
        for pattern in patterns
        for secret in provider_class.secret_objects
        for data in secret.data
    ):
        log.info("a secretObjects entry is filled from a pattern's match: every match is fetched at start")
        return False
    return True


def _fetcher(backend: VaultBackend) -> Callable[[LazyRef], Awaitable[Files]]:
    """How a lazily served object is fetched on open: as loading fetches it, rendered to all its files.
    Without the SDK's retries: a reader waits for one attempt, then gets the expired copy or EIO."""

    async def fetch(ref: LazyRef) -> Files:
        materials = await fetch_object(backend, ref.spec, retry=False)
        return {f.path: f.data for f in files_for(ref.spec, materials)}

    return fetch


async def run_sync(
    provider_class: ProviderClass,
    backend: VaultBackend,
    secrets: SecretSync | None,
    rotation: RotationOptions | None = None,
    *,
    directory: DirectorySink | None = None,
    split: bool = False,
    once: bool = False,
    once_attempts: int = 3,
    observe: Observability | None = None,
) -> bool:
    """No mount: the files in a directory (``directory``, the writer mode) and/or Kubernetes Secrets
    (``secrets``), plus hooks. Load, write, then keep them current until SIGTERM/SIGINT, which leaves the
    last whole version in place. ``once``: write and return whether everything was written (a Secret
    write that failed for a transient reason is tried ``once_attempts`` times, with backoff)."""
    rotation = rotation or RotationOptions()
    observe = observe or Observability(None, mountpoint=None, poll_interval=rotation.interval)
    engine = _Engine(provider_class, backend, rotation, split=split)
    started = time.monotonic()
    stopped = trio.Event()
    sinks: list[Sink] = [s for s in (directory, secrets) if s is not None]

    async with trio.open_nursery() as nursery:

        def stop(signal_name: str) -> None:
            log.info("%s received: stopping", signal_name)
            stopped.set()
            nursery.cancel_scope.cancel()

        nursery.start_soon(engine.watch_signals, stop)
        await observe.start(nursery, stopped)
        observe.watch_backend(backend)
        initial = await engine.load()
        observe.watch_engine(lambda: engine.rotator, engine.objects_served, engine.files_served)
        if secrets is not None:
            observe.watch_secrets(secrets)
            secrets.update_files(initial)
        if directory is not None:
            await directory.publish(initial)
        if once:
            written = directory is None or directory.written
            if secrets is not None:
                written = await _sync_once(secrets, once_attempts) and written
                log.info("secrets: %s", secrets.stats.summary(secrets.writer.calls))
            nursery.cancel_scope.cancel()
            return written
        hooks = ChangeHooks(rotation.hooks, directory.target if directory is not None else None)
        engine.make_rotator(Publisher([*sinks, hooks]))
        observe.watch_hooks(hooks)
        await nursery.start(hooks.run)
        if directory is not None:
            await nursery.start(directory.run)
        if secrets is not None:
            await nursery.start(secrets.run)
            await secrets.publish(initial)
        log.info(
            "ready: %s from %d objects in %.2fs",
            _headless_summary(directory, secrets),
            len(provider_class.objects),
            time.monotonic() - started,
            extra={"duration": round(time.monotonic() - started, 3)},
        )
        observe.set_ready()
        await engine.start_rotation(nursery)
        await stopped.wait()
    engine.log_summary(secrets)
    return (directory is None or directory.written) and (secrets is None or secrets.all_written)


def _headless_summary(directory: DirectorySink | None, secrets: SecretSync | None) -> str:
    parts = []
    if directory is not None:
        parts.append(f"{directory.target} {'written' if directory.written else 'NOT written'}")
    if secrets is not None:
        parts.append(f"{secrets.written_count} of {len(secrets.secret_objects)} Secrets written")
    return ", ".join(parts)


async def _sync_once(secrets: SecretSync, attempts: int) -> bool:
    backoff = Backoff(ceiling=8.0)
    for attempt in range(attempts):
        if await secrets.sync() or not secrets.transient_failures:
            break
        if attempt + 1 < attempts:
            await trio.sleep(backoff.next_delay())
    return secrets.all_written

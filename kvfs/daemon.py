"""The daemon: load every object, then mount, serve until a signal, unmount.

Everything runs in one trio nursery. The mount appears only after every object is loaded, so
"the mountpoint is a mount" means "ready". SIGTERM and SIGINT end the FUSE loop and unmount.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pyfuse3
import trio

from .config import ProviderClass
from .content.files import FileContent
from .engine.loader import Loaded, load_all
from .engine.rotation import Rotator, Served
from .errors import ConfigError, MountError
from .sinks.fuse.invalidate import invalidate_changes
from .sinks.fuse.mountpoint import mount_options, raise_max_background
from .sinks.fuse.operations import KvfsOperations
from .sinks.fuse.store import Snapshot, Store
from .sinks.hooks import ChangeHooks, HookOptions
from .vault.backend import DEFAULT_CONCURRENCY, BackendSettings, VaultBackend
from .vault.identity import build_credential

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VaultOptions:
    """How to reach the vault: an explicit (emulator) URL or the class's keyvaultName and cloud."""

    vault_url: str | None = None
    ca_file: str | None = None
    concurrency: int = DEFAULT_CONCURRENCY
    read_timeout: float = 15.0


@dataclass(frozen=True)
class MountOptions:
    mountpoint: Path
    uid: int
    gid: int
    allow_other: bool = True
    split_cert_files: bool = False  # <alias>.crt and <alias>.key beside every certificate's file


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
    credential = build_credential(provider_class, environ, ca_file=options.ca_file)
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


async def run_mount(
    provider_class: ProviderClass,
    backend: VaultBackend,
    mount: MountOptions,
    rotation: RotationOptions | None = None,
    *,
    on_ready: Callable[[Snapshot], None] | None = None,
) -> None:
    """Load, mount, keep content current, serve until SIGTERM/SIGINT or an external unmount, then unmount.

    The caller has checked the mountpoint (``prepare_mountpoint``) before opening the backend, so a
    bad one fails before anything else happens.
    """
    rotation = rotation or RotationOptions()
    started = time.monotonic()
    mounted = False
    rotator: Rotator | None = None

    async with trio.open_nursery() as nursery:

        async def watch_signals() -> None:
            with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as signals:
                async for signum in signals:
                    if signum == signal.SIGHUP:
                        if rotator is not None:
                            log.info("SIGHUP received: polling the vault now")
                            rotator.request_refresh()
                        elif rotation.interval is None:
                            log.info("SIGHUP received: rotation is off, nothing to refresh")
                        else:
                            log.info("SIGHUP received while loading: the content is being fetched now")
                        continue
                    log.info("%s received: unmounting", signal.Signals(signum).name)
                    if mounted:
                        pyfuse3.terminate()
                    else:
                        nursery.cancel_scope.cancel()
                    return

        nursery.start_soon(watch_signals)
        loaded = await load_all(backend, provider_class.objects, split=mount.split_cert_files)
        raise_first_failure(loaded)

        store = Store()
        store.publish(loaded.all_files())
        operations = KvfsOperations(store, uid=mount.uid, gid=mount.gid)
        hooks = ChangeHooks(rotation.hooks, mount.mountpoint)

        async def apply(files: list[FileContent], aliases: list[str]) -> None:
            """Swap in one poll's changes, let the kernel and applications know, run the hooks."""
            old = store.current
            changes = store.publish(files)
            if not changes:
                return
            gone = [old_inode for old_inode, _ in changes.changed.values()]
            gone += [*changes.removed.values(), *changes.removed_folders.values()]
            operations.retire([old.nodes[inode] for inode in gone])
            await trio.to_thread.run_sync(invalidate_changes, old, store.current, changes)
            hooks.notify(aliases, store.current.generation)

        if rotation.interval is not None:  # made before mounting, so that a SIGHUP from now on is not lost
            served = {
                spec.index: Served(spec, loaded.materials.get(spec.index, []), loaded.files.get(spec.index, []))
                for spec in provider_class.objects
            }
            rotator = Rotator(backend, served, apply, interval=rotation.interval, split=mount.split_cert_files)
        try:
            pyfuse3.init(operations, str(mount.mountpoint), mount_options(allow_other=mount.allow_other))
        except RuntimeError as exc:
            raise MountError(f"cannot mount {mount.mountpoint}: {exc}") from None
        mounted = True
        try:
            raise_max_background(mount.mountpoint)
            log.info(
                "ready: %d files from %d objects at %s in %.2fs",
                len(loaded.all_files()),
                len(provider_class.objects),
                mount.mountpoint,
                time.monotonic() - started,
            )
            if on_ready is not None:
                on_ready(store.current)
            await nursery.start(hooks.run)
            if rotator is not None:
                await nursery.start(rotator.run)
                log.info("rotation: polling every %ss", f"{rotation.interval:g}")
            await pyfuse3.main()
            log.info("unmounted %s; FUSE requests served: %s", mount.mountpoint, dict(operations.requests))
            if rotator is not None:
                log.info("rotation: %s", rotator.stats.summary())
        finally:
            pyfuse3.close(unmount=True)
            nursery.cancel_scope.cancel()

"""What each CLI command does, given its parsed arguments. Returns an exit code or raises KvfsError."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import stat
import sys
import tempfile
import threading
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import trio

from .config import ObjectSpec, ProviderClass, load_provider_class
from .config.whole_vault import whole_vault
from .daemon import MountOptions, RotationOptions, VaultOptions, open_backend, run_mount, run_sync
from .engine.lazy import CacheLimits
from .engine.loader import Loaded, load_all
from .errors import ConfigError, KvfsError
from .observe.server import parse_listen_address
from .observe.wiring import Observability
from .sinks.fuse.mountpoint import decide_allow_other, prepare_mountpoint
from .sinks.fuse.store import Snapshot
from .sinks.hooks import HookOptions
from .vault.identity import IdentityOptions

if TYPE_CHECKING:
    from .sinks.kubernetes.sync import SecretSync

log = logging.getLogger(__name__)
T = TypeVar("T")


def run_trio(func: Callable[[], Awaitable[T]]) -> T:
    """trio.run, with an exception group from a nursery reduced to the error that matters."""
    try:
        return trio.run(func)
    except BaseExceptionGroup as group:
        raise _most_relevant(group) from None


def _most_relevant(group: BaseExceptionGroup) -> BaseException:
    leaves: list[BaseException] = []

    def walk(exc: BaseException) -> None:
        if isinstance(exc, BaseExceptionGroup):
            for inner in exc.exceptions:
                walk(inner)
        else:
            leaves.append(exc)

    walk(group)
    return next((e for e in leaves if isinstance(e, KvfsError)), leaves[0])


def _vault_options(args: argparse.Namespace) -> VaultOptions:
    return VaultOptions(
        vault_url=args.vault_url,
        ca_file=args.ca_file,
        concurrency=args.concurrency,
        read_timeout=args.request_timeout,
        identity=IdentityOptions(mode=args.identity, client_secret_dir=args.client_secret_dir),
    )


def _reader_rules(provider_class: ProviderClass) -> list[ObjectSpec]:
    """The objects with allowedUids/allowedGids: only a mount can enforce those."""
    return [spec for spec in provider_class.objects if spec.restricts_readers]


def _mount_options(args: argparse.Namespace, mountpoint: Path) -> MountOptions:
    options = MountOptions(
        mountpoint=mountpoint,
        uid=args.uid,
        gid=args.gid,
        allow_other=decide_allow_other(args.allow_other),
        split_cert_files=getattr(args, "split_cert_files", False),
    )
    if getattr(args, "audit_log", None):
        from .sinks.fuse.audit import AuditSink

        options = replace(options, audit=AuditSink(args.audit_log), audit_coalesce=args.audit_coalesce)
    if hasattr(args, "cache_ttl"):
        if args.cache_ttl <= 0:
            raise ConfigError("--cache-ttl must be greater than 0")
        limits = CacheLimits(
            ttl=args.cache_ttl, max_entries=args.cache_size, max_bytes=args.cache_bytes, stale_for=args.cache_stale
        )
        options = replace(options, cache=limits)
    return options


def _rotation_options(args: argparse.Namespace) -> RotationOptions:
    if args.rotation_poll_interval <= 0 and not args.disable_rotation:
        raise ConfigError("--rotation-poll-interval must be greater than 0 (use --disable-rotation to turn it off)")
    hooks = HookOptions(exec_command=args.on_change_exec, webhook_url=args.on_change_webhook, timeout=args.hook_timeout)
    if hooks.webhook_url and not hooks.webhook_url.startswith(("http://", "https://")):
        raise ConfigError(f"--on-change-webhook {hooks.webhook_url}: not an http:// or https:// URL")
    return RotationOptions(
        interval=None if args.disable_rotation else args.rotation_poll_interval,
        hooks=hooks,
        start_timeout=args.start_timeout,
    )


def _observability(args: argparse.Namespace, mountpoint: Path | None, rotation: RotationOptions) -> Observability:
    address = parse_listen_address(args.metrics_addr) if args.metrics_addr else None
    return Observability(address, mountpoint=mountpoint, poll_interval=rotation.interval)


def _secret_sync(args: argparse.Namespace, provider_class: ProviderClass, rotation: RotationOptions) -> SecretSync:
    """The Secret sink, its Kubernetes settings checked now (a configuration error exits 2 before any network).
    Imported here: the Kubernetes client costs import time that mounts without secretObjects need not pay."""
    from .sinks.kubernetes.client import open_writer
    from .sinks.kubernetes.settings import resolve_kube_settings
    from .sinks.kubernetes.sync import SecretSync

    settings = resolve_kube_settings(
        kubeconfig=args.kubeconfig, namespace=args.namespace, class_namespace=provider_class.namespace
    )
    writer = open_writer(settings)
    for spec in _reader_rules(provider_class):
        for secret in provider_class.secret_objects:
            if any(item.object_name in spec.paths() for item in secret.data):
                log.warning(
                    "%s: %s: allowedUids/allowedGids do not reach the Kubernetes Secret %s that holds it "
                    "(RBAC decides who reads a Secret)",
                    args.config,
                    spec.describe(),
                    secret.secret_name,
                )
    log.info(
        "Secrets: %d from secretObjects into namespace %s, through %s",
        len(provider_class.secret_objects),
        settings.namespace,
        settings.source,
    )
    return SecretSync(provider_class.secret_objects, writer, retry_ceiling=rotation.interval or 60.0)


async def _closing(secrets: SecretSync | None, work: Callable[[], Awaitable[T]]) -> T:
    """Run ``work``, then close the Kubernetes client (inside trio, where it was used)."""
    try:
        return await work()
    finally:
        if secrets is not None:
            with trio.CancelScope(shield=True):
                await secrets.writer.close()


def _mount_target(args: argparse.Namespace) -> tuple[ProviderClass, Path, str | None]:
    """The class and mountpoint: ``CONFIG MOUNTPOINT``, or ``--vault V MOUNTPOINT`` (a whole vault, and the
    URL to use for a vault outside the known clouds)."""
    if args.vault is None:
        if args.mountpoint is None:
            raise ConfigError("mount: give CONFIG and MOUNTPOINT (or --vault NAME-or-URL and MOUNTPOINT)")
        for option in ("include", "exclude"):
            if getattr(args, option):
                raise ConfigError(f"--{option} is for --vault; in a class, use objectNamePattern")
        return load_provider_class(args.config), args.mountpoint, None
    if args.mountpoint is not None:
        raise ConfigError(f"mount --vault takes only MOUNTPOINT, not also {args.config!r}: the vault is the config")
    vault = whole_vault(args.vault, args.include, args.exclude, tenant_id=os.environ.get("AZURE_TENANT_ID", ""))
    return vault.provider_class, Path(args.config), vault.url


def mount(args: argparse.Namespace) -> int:
    provider_class, mountpoint, vault_url = _mount_target(args)
    rotation = _rotation_options(args)
    prepare_mountpoint(mountpoint)  # fail on a bad mountpoint before touching the network
    options = _mount_options(args, mountpoint)
    observe = _observability(args, mountpoint, rotation)
    secrets = None
    if provider_class.secret_objects and args.sync_secrets:
        secrets = _secret_sync(args, provider_class, rotation)
    elif provider_class.secret_objects:
        log.info("--no-sync-secrets: the class's %d secretObjects are not synced", len(provider_class.secret_objects))
    vault_options = _vault_options(args)
    if vault_url and not vault_options.vault_url:
        vault_options = replace(vault_options, vault_url=vault_url)
    backend = open_backend(provider_class, vault_options)
    try:
        run_trio(
            lambda: _closing(
                secrets,
                lambda: run_mount(provider_class, backend, options, rotation, secrets=secrets, observe=observe),
            )
        )
    finally:
        backend.close()
    return 0


def sync(args: argparse.Namespace) -> int:
    """Kubernetes Secrets from the class's secretObjects, without a mount. Exit 0 once stopped by a signal,
    or with ``--once`` only when every Secret was written."""
    provider_class = load_provider_class(args.config)
    if not provider_class.secret_objects:
        raise ConfigError(f"{args.config}: the class has no secretObjects: there are no Secrets to sync")
    rotation = _rotation_options(args)
    observe = _observability(args, None, rotation)
    secrets = _secret_sync(args, provider_class, rotation)
    backend = open_backend(provider_class, _vault_options(args))
    try:
        written = run_trio(
            lambda: _closing(
                secrets,
                lambda: run_sync(provider_class, backend, secrets, rotation, once=args.once, observe=observe),
            )
        )
    finally:
        backend.close()
    if args.once and not written:
        log.error(
            "%d of %d Secrets could not be written (see above)",
            len(provider_class.secret_objects) - secrets.written_count,
            len(provider_class.secret_objects),
        )
        return 1
    return 0


def sync_dir(args: argparse.Namespace) -> int:
    """The class's files in a directory, in the kubelet's atomic-writer layout, kept current (no FUSE).
    Exit 0 once stopped by a signal, or with ``--once`` only when every required object was written."""
    from .sinks.directory.sink import DirectorySink, prepare_directory

    provider_class = load_provider_class(args.config)
    for spec in _reader_rules(provider_class):
        raise ConfigError(
            f"{args.config}: {spec.describe()}: allowedUids/allowedGids need kvfs mount, which checks every open; "
            "sync-dir writes plain files that any reader the mode bits allow can open"
        )
    rotation = _rotation_options(args)
    on_disk = prepare_directory(args.directory, allow_disk=args.allow_disk)  # before any network
    observe = _observability(args, None, rotation)
    secrets = None
    if provider_class.secret_objects and args.sync_secrets:
        secrets = _secret_sync(args, provider_class, rotation)
    directory = DirectorySink(args.directory, uid=args.uid, gid=args.gid, durable=on_disk)
    directory.clean_up()
    backend = open_backend(provider_class, _vault_options(args))
    try:
        written = run_trio(
            lambda: _closing(
                secrets,
                lambda: run_sync(
                    provider_class,
                    backend,
                    secrets,
                    rotation,
                    directory=directory,
                    split=args.split_cert_files,
                    once=args.once,
                    observe=observe,
                ),
            )
        )
    finally:
        backend.close()
    if args.once and not written:
        log.error("%s: not everything could be written (see above)", args.directory)
        return 1
    return 0


def check(args: argparse.Namespace) -> int:
    """Fetch and render every object; print alias, type, version and size (never a value)."""
    provider_class = load_provider_class(args.config)
    backend = open_backend(provider_class, _vault_options(args))
    try:
        loaded = run_trio(lambda: load_all(backend, provider_class.objects, split=args.split_cert_files))
    finally:
        backend.close()
    rows = [("ALIAS", "TYPE", "VERSION", "BYTES", "STATUS")]
    for spec in provider_class.objects:
        if spec.key in loaded.failures:
            rows.append((spec.alias or spec.name_pattern, spec.type, "-", "-", f"error: {loaded.failures[spec.key]}"))
        elif spec.is_pattern:
            found = [match for key, match in sorted(loaded.specs.items()) if key[0] == spec.index and key[1]]
            rows.extend(_row(match, loaded) for match in found)
            if not found:
                rows.append((spec.name_pattern, spec.type, "-", "-", "pattern matches nothing"))
        else:
            rows.append(_row(spec, loaded))
    _print_table(rows)
    return 1 if loaded.failures else 0


def _row(spec: ObjectSpec, loaded: Loaded) -> tuple[str, ...]:
    if spec.key in loaded.failures:
        return (spec.alias, spec.type, "-", "-", f"error: {loaded.failures[spec.key]}")
    if spec.key in loaded.files:
        material = loaded.materials[spec.key][0]
        size = sum(len(f.data) for f in loaded.files[spec.key])
        return (spec.alias, spec.type, material.info.version, str(size), "ok")
    return (spec.alias, spec.type, "-", "-", "optional, not found")


def _print_table(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)]
        print("  ".join([*cells, row[-1]]))


def fake_vault(args: argparse.Namespace) -> int:
    """Serve the fake Key Vault until SIGTERM or SIGINT; fake-vault.json appears once it is ready."""
    from .fakevault import FakeVault, demo_objects, load_seed

    args.state_dir.mkdir(parents=True, exist_ok=True)
    if args.seed is not None and not args.seed.is_file():
        raise ConfigError(f"--seed {args.seed}: no such file")
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    try:
        fv = FakeVault(state_dir=args.state_dir, port=args.port, throttle=args.throttle, vault_name=args.vault_name)
    except ValueError as exc:
        raise ConfigError(f"--vault-name: {exc}") from None
    with fv:
        try:
            if args.seed is not None:
                load_seed(fv, args.seed)
            if args.demo_objects:
                demo_objects(fv)
        except ValueError as exc:
            raise ConfigError(f"--seed {args.seed}: {exc}") from None
        print(f"fake Key Vault at {fv.vault_url} (state in {args.state_dir / 'fake-vault.json'})", flush=True)
        stop.wait()
    return 0


DEMO_CLASS = """\
apiVersion: secrets-store.csi.x-k8s.io/v1
kind: SecretProviderClass
metadata:
  name: kvfs-demo
spec:
  provider: azure
  parameters:
    keyvaultName: kvfs-demo
    tenantID: "{tenant_id}"
    clientID: "{client_id}"
    objects: |
      array:
        - |
          objectName: demo-password
          objectType: secret
          objectAlias: password
        - |
          objectName: demo-signing-key
          objectType: key
          objectAlias: signing-key.pem
        - |
          objectName: demo-tls
          objectType: cert
          objectAlias: tls.crt
        - |
          objectName: demo-tls
          objectType: secret
          objectAlias: tls.pem
          filePermission: "0600"
"""


def demo(args: argparse.Namespace) -> int:
    """The fake vault with sample objects, mounted through the production workload-identity path."""
    from .config import parse_provider_class
    from .fakevault import FakeVault, demo_objects

    with tempfile.TemporaryDirectory(prefix="kvfs-demo-") as state:
        mountpoint = args.mountpoint or Path(state) / "mnt"
        mountpoint.mkdir(exist_ok=True)
        prepare_mountpoint(mountpoint)
        with FakeVault(state_dir=Path(state) / "vault") as fv:
            demo_objects(fv)
            provider_class = parse_provider_class(
                DEMO_CLASS.format(tenant_id=fv.tenant_id, client_id=fv.client_id), origin="demo"
            )
            environ = {**os.environ, **fv.workload_identity_env()}
            options = VaultOptions(vault_url=fv.vault_url, ca_file=str(fv.ca_file))
            backend = open_backend(provider_class, options, environ)
            try:
                run_trio(
                    lambda: run_mount(
                        provider_class,
                        backend,
                        _mount_options(args, mountpoint),
                        on_ready=lambda snapshot: _print_demo(snapshot, mountpoint),
                    )
                )
            finally:
                backend.close()
    return 0


def _print_demo(snapshot: Snapshot, mountpoint: Path) -> None:
    print(f"\nkvfs demo: the fake vault's objects are mounted at {mountpoint}\n")
    for node in snapshot.listing(1):
        print(f"  {stat.filemode(node.mode)}  {len(node.data):6d}  {node.name.decode()}")
    print(f"\nTry:  ls -l {mountpoint}   cat {mountpoint}/tls.crt")
    print("Stop with Ctrl-C (or SIGTERM): kvfs unmounts and exits.\n", flush=True)
    sys.stdout.flush()


__all__ = ["KvfsError", "check", "demo", "fake_vault", "mount", "sync", "sync_dir"]

"""Command line: arguments, logging set-up, exit codes. The only module that chooses exit codes.

Exit 0 on success (and after a clean unmount on SIGTERM/SIGINT), 2 for configuration and usage
errors, 1 for runtime failures; every error is one line on stderr, without a traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from . import __version__
from .durations import parse_duration
from .errors import ConfigError, KvfsError
from .hardening import forbid_core_dumps
from .observe.logs import LOG_FORMATS, configure_logging
from .vault.backend import DEFAULT_CONCURRENCY
from .vault.identity import IDENTITY_MODES

log = logging.getLogger("kvfs")

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _add_vault_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("vault")
    group.add_argument(
        "--vault-url",
        default=os.environ.get("KVFS_VAULT_URL") or None,
        help="talk to this vault URL instead of https://<keyvaultName>.<cloud suffix>/ (for emulators such as "
        "kvfs fake-vault; relaxes challenge-resource verification) [env KVFS_VAULT_URL]",
    )
    group.add_argument(
        "--ca-file",
        default=os.environ.get("KVFS_CA_FILE") or None,
        help="PEM bundle of CAs to trust for the vault and the authority (REQUESTS_CA_BUNDLE also works) "
        "[env KVFS_CA_FILE]",
    )
    group.add_argument(
        "--identity",
        choices=IDENTITY_MODES,
        default=os.environ.get("KVFS_IDENTITY") or "auto",
        help="how to get vault tokens: auto (default) follows the class as the provider does (useVMManagedIdentity: "
        "managed identity; clientID: workload identity; --client-secret-dir: service principal; else the default "
        "chain); the others override it, e.g. cli to run a cluster's class on a laptop after az login "
        "[env KVFS_IDENTITY]",
    )
    group.add_argument(
        "--client-secret-dir",
        metavar="DIR",
        type=Path,
        default=os.environ.get("KVFS_CLIENT_SECRET_DIR") or None,
        help="a service principal: files clientid and clientsecret (the provider's nodePublishSecretRef, mounted), "
        "read again when they change [env KVFS_CLIENT_SECRET_DIR]",
    )
    group.add_argument(
        "--concurrency",
        type=_positive_int,
        default=DEFAULT_CONCURRENCY,
        help="objects fetched at once (default %(default)s)",
    )
    group.add_argument(
        "--request-timeout",
        type=_positive_float,
        default=15.0,
        help="seconds to wait for one vault response (default %(default)s)",
    )


def _add_render_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--write-cert-and-key-in-separate-files",
        dest="split_cert_files",
        action="store_true",
        help="beside each certificate's file, also write <alias>.crt (certificates) and <alias>.key (the key), "
        "as the provider's flag of the same name does (per object: split: true)",
    )


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_rotation_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("rotation")
    group.add_argument(
        "--rotation-poll-interval",
        type=_duration,
        default=120.0,
        metavar="DURATION",
        help="how often to look for new versions, e.g. 30s, 2m (default 2m); one list call per 25 objects, "
        "and only changed objects are fetched",
    )
    group.add_argument("--disable-rotation", action="store_true", help="serve the versions loaded at start only")
    group.add_argument(
        "--start-timeout",
        type=_duration,
        default=300.0,
        metavar="DURATION",
        help="how long start-up keeps retrying a vault that throttles (429) or fails (5xx, timeouts), with "
        "backoff and jitter after its Retry-After, before exiting 1 (default 5m; 0: fail after the SDK's retries)",
    )
    group.add_argument(
        "--on-change-exec",
        metavar="COMMAND",
        help="run COMMAND (with /bin/sh) after each change; KVFS_CHANGED holds the changed aliases",
    )
    group.add_argument(
        "--on-change-webhook",
        metavar="URL",
        help='POST {"changed": [aliases], "mountpoint": ..., "generation": n} to URL after each change',
    )
    group.add_argument(
        "--hook-timeout",
        type=_duration,
        default=30.0,
        metavar="DURATION",
        help="how long a hook may take before it is stopped (default 30s)",
    )


def _add_mount_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("files")
    group.add_argument("--uid", type=_non_negative_int, default=os.getuid(), help="owner of the files (default: yours)")
    group.add_argument("--gid", type=_non_negative_int, default=os.getgid(), help="group of the files (default: yours)")
    allow = group.add_mutually_exclusive_group()
    allow.add_argument(
        "--allow-other",
        dest="allow_other",
        action="store_const",
        const=True,
        default=None,
        help="other users may access the files, as each file's mode allows (default when root, or when "
        "/etc/fuse.conf has user_allow_other)",
    )
    allow.add_argument(
        "--no-allow-other",
        dest="allow_other",
        action="store_const",
        const=False,
        help="only the mounting user may access the files",
    )


def _add_audit_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("audit")
    group.add_argument(
        "--audit-log",
        metavar="PATH",
        help="write one JSON line per open of a file (path, object, version, uid, gid, pid, command, executable, "
        "allowed or not) to PATH (created 0600, appended to) or '-' for standard output; never content",
    )
    group.add_argument(
        "--audit-coalesce",
        type=_duration,
        default=10.0,
        metavar="DURATION",
        help="opens of one file by one thread within DURATION are one line with a count, written when it ends "
        "(default 10s; 0: a line per open, written at once)",
    )


def _add_whole_vault_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("a whole vault, without a class")
    group.add_argument(
        "--vault",
        metavar="NAME-or-URL",
        help="serve every secret, key and certificate of this vault as secrets/<name>, keys/<name>.pem (public "
        "key) and certificates/<name>.pem (leaf), fetched on first open; give MOUNTPOINT only",
    )
    group.add_argument(
        "--include",
        metavar="PATTERN",
        action="append",
        help="with --vault: serve only objects whose name matches (shell-style, any case; repeatable)",
    )
    group.add_argument(
        "--exclude",
        metavar="PATTERN",
        action="append",
        help="with --vault: leave out objects whose name matches (repeatable; wins over --include)",
    )


def _add_cache_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("content fetched on first open (objectNamePattern, --vault)")
    group.add_argument(
        "--cache-ttl",
        type=_duration,
        default=300.0,
        metavar="DURATION",
        help="how long a fetched object is served before the next open asks the vault again (default 5m)",
    )
    group.add_argument(
        "--cache-size",
        type=_positive_int,
        default=1000,
        metavar="N",
        help="at most N objects held at once; the least recently used goes first (default %(default)s)",
    )
    group.add_argument(
        "--cache-bytes",
        type=_byte_size,
        default=64 * 1024 * 1024,
        metavar="SIZE",
        help="at most SIZE bytes held at once, e.g. 16Mi (default 64Mi)",
    )
    group.add_argument(
        "--cache-stale",
        type=_duration,
        default=3600.0,
        metavar="DURATION",
        help="how long an expired copy is kept to be served if the vault fails (default 1h; 0 turns it off)",
    )


_BYTE_UNITS = {"": 1, "k": 1000, "ki": 1024, "m": 1000**2, "mi": 1024**2, "g": 1000**3, "gi": 1024**3}


def _byte_size(text: str) -> int:
    number = text.rstrip("kKmMgGiIbB")
    unit = text[len(number) :].lower().removesuffix("b")
    if unit not in _BYTE_UNITS or not number.isdigit() or int(number) == 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size such as 1048576, 512Ki, 64Mi or 1Gi")
    return int(number) * _BYTE_UNITS[unit]


def _add_kubernetes_options(parser: argparse.ArgumentParser, *, optional_sync: bool) -> None:
    group = parser.add_argument_group("Kubernetes Secrets (from the class's secretObjects)")
    if optional_sync:
        group.add_argument(
            "--no-sync-secrets",
            dest="sync_secrets",
            action="store_false",
            help="do not write the class's secretObjects as Kubernetes Secrets (default: write them when it has any)",
        )
    group.add_argument(
        "--kubeconfig",
        metavar="PATH",
        help="kubeconfig to reach the API server (default: KUBECONFIG, else in-cluster; never ~/.kube/config)",
    )
    group.add_argument(
        "--namespace",
        help="namespace of the Secrets (default: POD_NAMESPACE, the in-cluster namespace, the class's namespace, "
        "the kubeconfig context's)",
    )


def _add_observe_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("metrics and health")
    group.add_argument(
        "--metrics-addr",
        metavar="HOST:PORT",
        default=os.environ.get("KVFS_METRICS_ADDR") or None,
        help="serve Prometheus /metrics, /healthz and /readyz on HOST:PORT, e.g. 0.0.0.0:8898 (default: off) "
        "[env KVFS_METRICS_ADDR]",
    )


def _positive_int(text: str) -> int:
    value = _non_negative_int(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def _throttle(text: str) -> tuple[int, float]:
    """``BUDGET/DURATION`` (``4000/10s``) for ``fake-vault --throttle``."""
    budget_text, slash, window_text = text.partition("/")
    if not slash:
        raise argparse.ArgumentTypeError(f"{text!r} is not BUDGET/DURATION (e.g. 4000/10s)")
    try:
        budget = int(budget_text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: the budget {budget_text!r} is not a whole number") from None
    if budget < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: the budget must be at least 1 request")
    window = _duration(window_text)
    if window <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: the duration must be longer than 0")
    return budget, window


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must not be negative")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be greater than 0")
    return value


def _add_logging_options(parser: argparse.ArgumentParser, *, defaults: bool) -> None:
    """On the main parser (with the defaults) and on each command (so they may follow it, as in a pod's args)."""
    group = parser.add_argument_group("logging")
    group.add_argument(
        "--log-level",
        default=os.environ.get("KVFS_LOG_LEVEL", "info") if defaults else argparse.SUPPRESS,
        choices=["debug", "info", "warning", "error"],
        help="default info [env KVFS_LOG_LEVEL]",
    )
    group.add_argument(
        "--log-format",
        default=os.environ.get("KVFS_LOG_FORMAT", "text") if defaults else argparse.SUPPRESS,
        choices=LOG_FORMATS,
        help="text lines, or JSON lines with structured fields (default text) [env KVFS_LOG_FORMAT]",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="kvfs",
        description="Azure Key Vault secrets, keys and certificates as read-only files, "
        "configured by a SecretProviderClass.",
    )
    parser.add_argument("--version", action="version", version=f"kvfs {__version__}")
    _add_logging_options(parser, defaults=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    config_help = "SecretProviderClass YAML: a file, '-' for standard input, or env:NAME for a variable holding it"

    mount = commands.add_parser(
        "mount",
        help="mount the class's objects (or, with --vault, a whole vault) as files and keep serving them",
        usage="kvfs mount [options] CONFIG MOUNTPOINT\n       kvfs mount --vault NAME-or-URL [options] MOUNTPOINT",
    )
    _add_logging_options(mount, defaults=False)
    mount.add_argument("config", metavar="CONFIG", help=config_help + " (not with --vault)")
    mount.add_argument(
        "mountpoint", metavar="MOUNTPOINT", type=Path, nargs="?", help="an empty directory (made if missing)"
    )
    _add_vault_options(mount)
    _add_whole_vault_options(mount)
    _add_render_options(mount)
    _add_mount_options(mount)
    _add_audit_options(mount)
    _add_cache_options(mount)
    _add_rotation_options(mount)
    _add_kubernetes_options(mount, optional_sync=True)
    _add_observe_options(mount)

    sync_dir = commands.add_parser(
        "sync-dir",
        help="write the class's objects into a directory (kubelet atomic-writer layout) and keep them current; "
        "no FUSE, no privileges",
    )
    _add_logging_options(sync_dir, defaults=False)
    sync_dir.add_argument("config", metavar="CONFIG", help=config_help)
    sync_dir.add_argument("directory", metavar="DIR", type=Path, help="an empty directory in memory (tmpfs)")
    sync_dir.add_argument(
        "--once", action="store_true", help="write the files and exit (an init container); 0 only if all were written"
    )
    files = sync_dir.add_argument_group("files")
    files.add_argument("--uid", type=_non_negative_int, help="owner of the files (default: the writing user)")
    files.add_argument("--gid", type=_non_negative_int, help="group of the files (default: the writing user's)")
    files.add_argument(
        "--allow-disk",
        action="store_true",
        help="accept a directory that is not in memory (tmpfs or ramfs): secrets then reach a disk",
    )
    _add_vault_options(sync_dir)
    _add_render_options(sync_dir)
    _add_rotation_options(sync_dir)
    _add_kubernetes_options(sync_dir, optional_sync=True)
    _add_observe_options(sync_dir)

    sync = commands.add_parser(
        "sync", help="keep the class's secretObjects as Kubernetes Secrets, without mounting anything"
    )
    _add_logging_options(sync, defaults=False)
    sync.add_argument("config", metavar="CONFIG", help=config_help)
    sync.add_argument(
        "--once", action="store_true", help="write the Secrets and exit (0 only if every Secret was written)"
    )
    _add_vault_options(sync)
    _add_rotation_options(sync)
    _add_kubernetes_options(sync, optional_sync=False)
    _add_observe_options(sync)

    check = commands.add_parser("check", help="authenticate and fetch every object without mounting; print no values")
    _add_logging_options(check, defaults=False)
    check.add_argument("config", metavar="CONFIG", help=config_help)
    _add_vault_options(check)
    _add_render_options(check)

    fake = commands.add_parser("fake-vault", help="run kvfs's fake Key Vault (HTTPS, with its own token authority)")
    _add_logging_options(fake, defaults=False)
    fake.add_argument(
        "--state-dir",
        type=Path,
        required=True,
        help="where fake-vault.json (vault_url, authority_host, tenant_id, client_id, client_secret, token_file, "
        "ca_file, imds_url), the CA and the federated token go; MSAL-based credentials such as "
        "ClientSecretCredential need disable_instance_discovery=True against it",
    )
    fake.add_argument("--port", type=_non_negative_int, default=0, help="port on 127.0.0.1 (default: any free one)")
    fake.add_argument(
        "--vault-name",
        metavar="NAME",
        help="serve as https://NAME.vault.azure.net (its TLS certificate names it) so clients keep challenge-resource "
        "verification on: map the name to 127.0.0.1 (e.g. in /etc/hosts) and, as root, use --port 443",
    )
    fake.add_argument("--seed", type=Path, help="YAML file of secrets, keys and certificates to create")
    fake.add_argument("--demo-objects", action="store_true", help="create the demo secret, key and certificate")
    fake.add_argument(
        "--throttle",
        type=_throttle,
        metavar="BUDGET/DURATION",
        help="answer vault requests over BUDGET per DURATION (sliding window) with 429 Throttled and Retry-After, "
        "as Key Vault does; e.g. 4000/10s, its secrets limit (default: no throttling)",
    )

    demo = commands.add_parser("demo", help="start the fake vault with sample objects and mount them")
    _add_logging_options(demo, defaults=False)
    demo.add_argument("mountpoint", metavar="MOUNTPOINT", type=Path, nargs="?", help="default: a new temporary folder")
    _add_mount_options(demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    configure_logging(args.log_level, args.log_format)
    from . import commands

    forbid_core_dumps()  # every command may hold secret material in memory
    handler = {
        "mount": commands.mount,
        "sync": commands.sync,
        "sync-dir": commands.sync_dir,
        "check": commands.check,
        "fake-vault": commands.fake_vault,
        "demo": commands.demo,
    }[args.command]
    try:
        return handler(args)
    except KvfsError as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if args.log_format == "json":  # a log pipeline gets the error as one more JSON line
            log.error("%s", message, extra={"exit_code": exc.exit_code})
        else:
            print(f"kvfs: error: {message}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


def console_main() -> NoReturn:
    sys.exit(main())


__all__ = ["ConfigError", "build_parser", "console_main", "main"]

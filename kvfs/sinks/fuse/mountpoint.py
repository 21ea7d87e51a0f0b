"""Mounting and unmounting: checks on the mountpoint, stale-mount recovery, mount options."""

from __future__ import annotations

import errno
import logging
import os
import shutil
import subprocess
from pathlib import Path

from ...errors import ConfigError, MountError

log = logging.getLogger(__name__)

FUSE_DEVICE = Path("/dev/fuse")


FUSE_CONF = Path(os.environ.get("KVFS_FUSE_CONF", "/etc/fuse.conf"))


def user_allow_other(fuse_conf: Path = FUSE_CONF) -> bool:
    """Whether fusermount3 lets users who are not root mount with ``allow_other`` (a line ``user_allow_other``)."""
    try:
        text = fuse_conf.read_text()
    except OSError:
        return False
    return any(line.split("#", 1)[0].strip() == "user_allow_other" for line in text.splitlines())


def decide_allow_other(requested: bool | None, *, euid: int | None = None, fuse_conf: Path = FUSE_CONF) -> bool:
    """``allow_other`` when asked, or by default when the system permits it (root, or ``user_allow_other``).

    A normal user on a stock system (no ``user_allow_other``) gets a mount only they can read, and one
    line saying so, instead of fusermount3's bare "fuse_session_mount failed".
    """
    euid = os.geteuid() if euid is None else euid
    permitted = euid == 0 or user_allow_other(fuse_conf)
    if requested and not permitted:
        raise ConfigError(
            f"--allow-other needs root or a line 'user_allow_other' in {fuse_conf} "
            "(add it as root, or mount without --allow-other: then only you can read the files)"
        )
    if requested is None and not permitted:
        log.info(
            "not root and %s has no user_allow_other: only uid %d can read the mount "
            "(add user_allow_other to %s to share it with other users)",
            fuse_conf,
            euid,
            fuse_conf,
        )
    return permitted if requested is None else requested


def mount_options(*, allow_other: bool) -> set[str]:
    """Read-only, no set-uid or devices, the kernel checks permissions; other users only when asked."""
    options = {"fsname=kvfs", "subtype=kvfs", "ro", "nosuid", "nodev", "default_permissions"}
    if allow_other:
        options.add("allow_other")
    return options


def prepare_mountpoint(mountpoint: Path) -> None:
    """Fail early and clearly, and clear a stale mount a killed daemon left behind."""
    if not FUSE_DEVICE.exists():
        raise MountError("/dev/fuse does not exist: install fuse3, or run the container with the /dev/fuse device")
    if _is_stale(mountpoint):
        log.warning("%s is a stale FUSE mount (transport endpoint is not connected): unmounting it", mountpoint)
        lazy_unmount(mountpoint)
    try:
        mountpoint.stat()
    except FileNotFoundError:
        _create(mountpoint)
    except OSError as exc:
        raise MountError(f"mountpoint {mountpoint}: {exc.strerror}") from None
    if not mountpoint.is_dir():
        raise ConfigError(f"mountpoint {mountpoint} is not a directory")
    if os.path.ismount(mountpoint):
        raise MountError(f"mountpoint {mountpoint} is already a mount: unmount it first (fusermount3 -u {mountpoint})")
    try:
        with os.scandir(mountpoint) as entries:
            if any(True for _ in entries):
                raise ConfigError(f"mountpoint {mountpoint} is not empty: kvfs mounts only on an empty directory")
    except PermissionError:
        raise MountError(f"mountpoint {mountpoint}: permission denied") from None


def _create(mountpoint: Path) -> None:
    """A missing last folder is made (a pod's fresh emptyDir holds nothing); a missing parent is an error."""
    if not mountpoint.parent.is_dir():
        raise ConfigError(f"mountpoint {mountpoint} does not exist, nor does its parent folder {mountpoint.parent}")
    try:
        mountpoint.mkdir(mode=0o755)
    except FileExistsError:
        return
    except OSError as exc:
        raise MountError(f"mountpoint {mountpoint} cannot be created: {exc.strerror}") from None
    log.info("created the mountpoint %s", mountpoint)


def _is_stale(mountpoint: Path) -> bool:
    """A mount whose daemon died answers ENOTCONN (stat may still succeed from the kernel's cache)."""
    try:
        with os.scandir(mountpoint):
            pass
    except OSError as exc:
        return exc.errno == errno.ENOTCONN
    return False


def lazy_unmount(mountpoint: Path) -> None:
    """Detach a mount even when its daemon is gone (``fusermount3 -u -z``, else ``umount -l``)."""
    for command in (["fusermount3", "-u", "-z", str(mountpoint)], ["umount", "-l", str(mountpoint)]):
        if shutil.which(command[0]) is None:
            continue
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode == 0:
            return
        log.debug("%s failed: %s", " ".join(command), result.stderr.strip())
    raise MountError(f"cannot unmount the stale mount at {mountpoint}: run 'fusermount3 -u -z {mountpoint}' as root")


FUSE_CONNECTIONS = Path("/sys/fs/fuse/connections")
#: libfuse leaves 12. Releases (sent when a file is closed) are background requests and, above this
#: many, wait in a kernel queue that opens do not wait behind; under a storm of open/close, page
#: reads (also background) starve behind them for as long as the storm lasts. With room for every
#: release in flight, each reader's next open queues behind its own release, which bounds the queue.
MAX_BACKGROUND = 1024


def raise_max_background(mountpoint: Path) -> None:
    """Give the new FUSE connection room for background requests (best effort, needs root).

    Reads /proc/self/mountinfo rather than stat()ing the mountpoint: a stat would be a request to
    this very daemon, which is not serving yet.
    """
    if os.geteuid() != 0:
        log.info("not root: the FUSE connection keeps libfuse's max_background of 12 (tuning it needs root)")
        return
    connection = _connection_id(mountpoint)
    if connection is None:
        log.debug("no FUSE connection found for %s in /proc/self/mountinfo", mountpoint)
        return
    if FUSE_CONNECTIONS.is_dir() and not any(FUSE_CONNECTIONS.iterdir()):
        subprocess.run(["mount", "-t", "fusectl", "fusectl", str(FUSE_CONNECTIONS)], capture_output=True, check=False)
    settings = FUSE_CONNECTIONS / str(connection)
    try:
        (settings / "max_background").write_text(f"{MAX_BACKGROUND}\n")
        (settings / "congestion_threshold").write_text(f"{MAX_BACKGROUND * 3 // 4}\n")
    except OSError as exc:
        log.debug("cannot raise max_background of FUSE connection %s: %s", connection, exc)
        return
    log.debug("FUSE connection %s: max_background %d", connection, MAX_BACKGROUND)


def _connection_id(mountpoint: Path) -> int | None:
    """The device minor number of the newest fuse.kvfs mount at ``mountpoint`` (= its connection id)."""
    found = None
    target = str(mountpoint.absolute())
    with open("/proc/self/mountinfo", encoding="utf-8") as mounts:
        for line in mounts:
            fields = line.split()
            separator = fields.index("-")
            if fields[4] == target and fields[separator + 1] == "fuse.kvfs":
                found = int(fields[2].split(":")[1])
    return found

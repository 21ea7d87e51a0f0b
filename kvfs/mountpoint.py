"""Mounting and unmounting: checks on the mountpoint, stale-mount recovery, mount options."""

from __future__ import annotations

import errno
import logging
import os
import shutil
import subprocess
from pathlib import Path

from .errors import ConfigError, MountError

log = logging.getLogger(__name__)

FUSE_DEVICE = Path("/dev/fuse")


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
        raise ConfigError(f"mountpoint {mountpoint} does not exist: create it first") from None
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

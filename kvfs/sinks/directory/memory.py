"""Is a directory in memory (tmpfs, ramfs)? Secrets must not reach a disk unless the user says so.

Linux only: ``statfs(2)``'s file system type. Elsewhere the answer is "cannot tell", and kvfs then
asks for ``--allow-disk`` as it does for a disk.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from pathlib import Path

TMPFS_MAGIC = 0x01021994
RAMFS_MAGIC = 0x858458F6
_NAMES = {TMPFS_MAGIC: "tmpfs", RAMFS_MAGIC: "ramfs"}


def filesystem_type(path: Path) -> int | None:
    """``f_type`` of the file system holding ``path`` (the first field of ``struct statfs``), or None."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    buffer = ctypes.create_string_buffer(256)  # larger than struct statfs on every Linux ABI
    if libc.statfs(str(path).encode(), buffer) != 0:
        return None
    return ctypes.c_long.from_buffer(buffer).value & 0xFFFFFFFF


def memory_filesystem(path: Path) -> str | None:
    """``"tmpfs"`` or ``"ramfs"`` when ``path`` is on one, else None."""
    kind = filesystem_type(path)
    return None if kind is None else _NAMES.get(kind)

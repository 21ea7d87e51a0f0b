"""Keep secrets off the disk when the process crashes: no core dumps.

A core dump of kvfs would hold every secret it serves. ``RLIMIT_CORE`` 0 stops the kernel writing
one; ``PR_SET_DUMPABLE`` 0 also covers core pattern pipes (systemd-coredump, apport) and stops other
processes of the same user from attaching a debugger or reading this process's memory.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import resource

log = logging.getLogger(__name__)

PR_SET_DUMPABLE = 4
PR_GET_DUMPABLE = 3


def forbid_core_dumps() -> None:
    """Best effort: each step that fails is said once at debug level (they do not fail on Linux)."""
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ValueError, OSError) as exc:
        log.debug("cannot set RLIMIT_CORE to 0: %s", exc)
    if _prctl(PR_SET_DUMPABLE, 0) != 0:
        log.debug("prctl(PR_SET_DUMPABLE, 0) failed")


def is_dumpable() -> bool:
    return _prctl(PR_GET_DUMPABLE, 0) == 1


def _prctl(option: int, value: int) -> int:
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    return int(libc.prctl(option, value, 0, 0, 0))

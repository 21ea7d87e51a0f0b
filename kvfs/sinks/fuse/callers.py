"""Who is calling: what /proc says about the thread behind a FUSE request.

FUSE gives the caller's uid, gid and thread id. The thread is blocked in its ``open`` while the
request is served, so /proc still describes it then; a moment later a short-lived reader (``cat``)
is gone. Everything here is read at open time, and never cached across opens (ids are reused).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

PROC = "/proc"


@dataclass(frozen=True)
class Process:
    """The process of a calling thread, as /proc showed it."""

    pid: int | None  # the process (thread group), not the calling thread; None when not known
    comm: str | None  # the command name (at most 15 characters, as the kernel keeps it)
    exe: str | None  # the executable's path (None if /proc would not say: gone, or not ours to read)
    state: str = ""  # "gone" (exited before it could be read), "outside kvfs's PID namespace", or ""


#: FUSE reports pid 0 for a caller kvfs's PID namespace cannot see: another container of a pod
#: that does not share its process namespace.
OUTSIDE = Process(None, None, None, "outside kvfs's PID namespace")


def _status(tid: int) -> bytes:
    """/proc/<tid>/status (raises OSError when the thread is gone)."""
    with open(f"{PROC}/{tid}/status", "rb") as status:
        return status.read()


def _field(status: bytes, name: bytes) -> str | None:
    start = status.find(b"\n" + name + b":")
    if start < 0:
        return None
    end = status.find(b"\n", start + 1)
    return status[start + len(name) + 2 : end if end >= 0 else None].strip().decode("utf-8", "replace")


def describe(tid: int) -> Process:
    """The process behind thread ``tid``: its pid, command name and executable."""
    if tid == 0:
        return OUTSIDE
    try:
        status = _status(tid)
    except OSError:
        return Process(tid, None, None, "gone")
    pid = int(_field(status, b"Tgid") or tid)
    if pid != tid:  # another thread of the process: its own name may differ from the process's
        with contextlib.suppress(OSError):  # gone meanwhile: the thread's own name will do
            status = _status(pid)
    comm = _field(b"\n" + status, b"Name")
    try:
        exe: str | None = os.readlink(f"{PROC}/{pid}/exe")
    except OSError:  # gone meanwhile, a kernel thread, or another user's process while kvfs is not root
        exe = None
    return Process(pid, comm, exe)


def supplementary_groups(tid: int) -> frozenset[int]:
    """The caller's supplementary groups (FUSE passes only its primary gid); empty if it is gone or
    outside kvfs's PID namespace."""
    if tid == 0:
        return frozenset()
    try:
        groups = _field(_status(tid), b"Groups") or ""
    except OSError:
        return frozenset()
    return frozenset(int(g) for g in groups.split())

"""Per-object readers (``allowedUids``, ``allowedGids``): checked on every open, after the mode bits.

The kernel checks the mode bits first (the mount uses ``default_permissions``); an object with
reader rules then opens only for a caller whose uid is listed, or whose primary or supplementary
group is. Root is no exception: in a pod, root in another container is exactly the reader to keep out.
"""

from __future__ import annotations

from ...config import ObjectSpec
from .callers import supplementary_groups


def may_open(spec: ObjectSpec | None, uid: int, gid: int, tid: int) -> bool:
    if spec is None or not spec.restricts_readers:
        return True
    if spec.allowed_uids is not None and uid in spec.allowed_uids:
        return True
    if spec.allowed_gids is None:
        return False
    if gid in spec.allowed_gids:
        return True
    return not supplementary_groups(tid).isdisjoint(spec.allowed_gids)  # read only when it decides

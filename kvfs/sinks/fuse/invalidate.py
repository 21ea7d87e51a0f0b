"""Tell the kernel what a publish changed, so applications notice.

A changed file has a new inode; invalidating the old entry with ``deleted=old_inode`` makes
inotify/fsnotify watchers of the file get ``IN_DELETE_SELF`` (what a Kubernetes atomic writer's
symlink swap looks like to them), and the next lookup finds the new inode with its new size and
mtime. These calls block while a related request is in flight, so they must run in a worker
thread, never on the trio thread that serves requests (it deadlocked there).
"""

from __future__ import annotations

import errno
import logging

import pyfuse3

from .store import Changes, Snapshot

log = logging.getLogger(__name__)


def invalidate_changes(old: Snapshot, new: Snapshot, changes: Changes) -> None:
    """Invalidate every entry a publish changed, added or removed (folders too), and their folders' attributes."""
    folders: set[int] = set()
    for old_inode, _new_inode in changes.changed.values():
        node = old.nodes[old_inode]
        _call(pyfuse3.invalidate_entry, node.parent, node.name, old_inode)
        folders.add(node.parent)
    for old_inode in changes.removed.values():
        node = old.nodes[old_inode]
        _call(pyfuse3.invalidate_entry, node.parent, node.name, old_inode)
        folders.add(node.parent)
    for new_inode in changes.added.values():
        node = new.nodes[new_inode]
        _call(pyfuse3.invalidate_entry, node.parent, node.name, 0)  # a cached "no such file", if any
        folders.add(node.parent)
    # Deepest first: the kernel drops a folder's entry only once it holds no entries itself.
    for _path, folder in sorted(changes.removed_folders.items(), key=lambda item: -item[0].count("/")):
        node = old.nodes[folder]
        _call(pyfuse3.invalidate_entry, node.parent, node.name, folder)
        folders.discard(folder)
        folders.add(node.parent)
    for folder in changes.added_folders.values():
        node = new.nodes[folder]
        _call(pyfuse3.invalidate_entry, node.parent, node.name, 0)
        folders.add(node.parent)
    for folder in folders:
        _call(pyfuse3.invalidate_inode, folder, False)


def _call(function: object, *args: object) -> None:
    try:
        function(*args)  # type: ignore[operator]
    except OSError as exc:
        if exc.errno != errno.ENOENT:  # ENOENT: the kernel never saw it, so there is nothing to forget
            log.warning("kernel invalidation %s%s failed: %s", getattr(function, "__name__", function), args, exc)

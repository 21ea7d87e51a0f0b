"""The mount as a sink: each change set becomes the served tree, and the kernel is told what changed."""

from __future__ import annotations

import trio

from ...content.files import ChangeSet
from .invalidate import invalidate_changes
from .operations import KvfsOperations
from .store import Store


class FuseSink:
    """Swaps the store's snapshot; once mounted, retires replaced nodes and invalidates the kernel's
    cache for them (in a worker thread: invalidation blocks while a related request is in flight)."""

    name = "mount"

    def __init__(self, store: Store, operations: KvfsOperations) -> None:
        self.store = store
        self.operations = operations
        self.mounted = False  # before the mount exists there is no kernel cache to invalidate

    async def publish(self, change: ChangeSet) -> None:
        old = self.store.current
        changes = self.store.publish(change.files)
        if self.operations.lazy is not None:
            self.operations.lazy.retain(self.store.current.lazy_refs())
        if not changes or not self.mounted:
            return
        gone = [old_inode for old_inode, _ in changes.changed.values()]
        gone += [*changes.removed.values(), *changes.removed_folders.values()]
        self.operations.retire([old.nodes[inode] for inode in gone])
        await trio.to_thread.run_sync(invalidate_changes, old, self.store.current, changes)

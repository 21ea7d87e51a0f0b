"""The read-only FUSE filesystem: thin pyfuse3 handlers over the store's current snapshot.

Every handler touches memory only and never awaits while holding state. An open file handle pins
the bytes it opened, so a reader never sees half of one version and half of another. The one
exception is the first open of a lazily served file (patterns, whole-vault): it waits for the vault,
while every other request goes on in its own task. Nodes that
left the tree stay answerable until the kernel forgets them (the lookup counts are kept as
pyfuse3's passthroughfs example keeps them). ``FUSEError`` appears only in this module.
"""

from __future__ import annotations

import errno
import itertools
import os
from collections import Counter
from collections.abc import Sequence

import pyfuse3

from ...engine.lazy import FetchFailed, LazyContent
from .access import may_open
from .audit import AuditTrail
from .store import ROOT_INODE, Node, Store

CACHE_TIMEOUT = 300.0  # seconds the kernel may cache entries and attributes; rotation invalidates explicitly
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_TRUNC | os.O_APPEND | os.O_CREAT


def _refuse() -> pyfuse3.FUSEError:
    return pyfuse3.FUSEError(errno.EROFS)


class KvfsOperations(pyfuse3.Operations):
    supports_dot_lookup = True
    enable_writeback_cache = False
    enable_acl = False

    def __init__(
        self, store: Store, *, uid: int, gid: int, lazy: LazyContent | None = None, audit: AuditTrail | None = None
    ) -> None:
        super().__init__()
        self._store = store
        self.lazy = lazy
        self.audit = audit
        self.opens: Counter[tuple[str, str]] = Counter()  # (alias, outcome: ok, denied, failed), for metrics
        self._uid = uid
        self._gid = gid
        self._lookups: Counter[int] = Counter()
        self._retired: dict[int, Node] = {}  # inodes gone from the tree that the kernel still holds
        self._open_files: dict[int, bytes] = {}
        self._open_dirs: dict[int, list[Node]] = {}
        self._handles = itertools.count(1)
        self.requests: Counter[str] = Counter()  # per-operation counts, for benchmarks and metrics

    # -- helpers -------------------------------------------------------------------------------

    @property
    def inodes_referenced(self) -> int:
        """Inodes the kernel holds a lookup on (0 once it has forgotten them all: lookups balanced by forgets)."""
        return len(self._lookups)

    @property
    def inodes_retired(self) -> int:
        """Replaced or removed inodes kept answerable because the kernel still references them."""
        return len(self._retired)

    @property
    def handles_open(self) -> int:
        return len(self._open_files) + len(self._open_dirs)

    def retire(self, nodes: Sequence[Node]) -> None:
        """Keep nodes that a publish removed answerable while the kernel still references them."""
        for node in nodes:
            if self._lookups[node.inode] > 0:
                self._retired[node.inode] = node

    def _node(self, inode: int) -> Node:
        node = self._store.current.nodes.get(inode) or self._retired.get(inode)
        if node is None:
            raise pyfuse3.FUSEError(errno.ENOENT)
        return node

    def attributes(self, node: Node) -> pyfuse3.EntryAttributes:
        attr = pyfuse3.EntryAttributes()
        attr.st_ino = node.inode
        attr.st_mode = node.mode
        attr.st_nlink = 2 if node.is_dir else 1
        size: int | None = len(node.data)
        if node.lazy is not None:
            size = self.lazy.known_size(node.lazy) if self.lazy is not None else None
        attr.st_size = size or 0
        attr.st_uid = self._uid
        attr.st_gid = self._gid
        attr.st_blksize = 4096
        attr.st_blocks = (attr.st_size + 511) // 512
        attr.st_atime_ns = attr.st_mtime_ns = attr.st_ctime_ns = node.mtime_ns
        attr.entry_timeout = CACHE_TIMEOUT
        # A size not known yet (never opened) is 0 and not cached, so the kernel asks again once it is.
        attr.attr_timeout = CACHE_TIMEOUT if size is not None else 0
        return attr

    # -- lookups -------------------------------------------------------------------------------

    async def lookup(self, parent_inode: int, name: bytes, ctx: pyfuse3.RequestContext) -> pyfuse3.EntryAttributes:
        self.requests["lookup"] += 1
        snapshot = self._store.current
        if name == b".":
            node = self._node(parent_inode)
        elif name == b"..":
            node = self._node(self._node(parent_inode).parent)
        else:
            found = snapshot.child(parent_inode, name)
            if found is None:
                raise pyfuse3.FUSEError(errno.ENOENT)
            node = found
        self._lookups[node.inode] += 1
        return self.attributes(node)

    async def forget(self, inode_list: Sequence[tuple[int, int]]) -> None:
        self.requests["forget"] += 1
        for inode, count in inode_list:
            remaining = self._lookups[inode] - count
            if remaining > 0:
                self._lookups[inode] = remaining
            else:
                self._lookups.pop(inode, None)
                self._retired.pop(inode, None)

    async def getattr(self, inode: int, ctx: pyfuse3.RequestContext) -> pyfuse3.EntryAttributes:
        self.requests["getattr"] += 1
        return self.attributes(self._node(inode))

    # -- files ---------------------------------------------------------------------------------

    async def open(self, inode: int, flags: int, ctx: pyfuse3.RequestContext) -> pyfuse3.FileInfo:
        self.requests["open"] += 1
        node = self._node(inode)
        if node.is_dir:
            raise pyfuse3.FUSEError(errno.EISDIR)
        if flags & _WRITE_FLAGS:
            raise _refuse()
        alias = node.spec.alias if node.spec is not None else node.name.decode(errors="replace")
        allowed = may_open(node.spec, ctx.uid, ctx.gid, ctx.pid)
        if self.audit is not None:
            self.audit.record(node, self._path, ctx.uid, ctx.gid, ctx.pid, allowed)
        if not allowed:
            self.opens[(alias, "denied")] += 1
            raise pyfuse3.FUSEError(errno.EACCES)
        if node.lazy is not None:
            try:
                info = await self._open_lazy(node)
            except pyfuse3.FUSEError:
                self.opens[(alias, "failed")] += 1
                raise
            self.opens[(alias, "ok")] += 1
            return info
        self.opens[(alias, "ok")] += 1
        fh = next(self._handles)
        self._open_files[fh] = node.data
        return pyfuse3.FileInfo(fh=fh, keep_cache=True)

    def _path(self, node: Node) -> str:
        """The node's path in the mount (``conf/db.txt``)."""
        parts = [node.name]
        while node.parent != ROOT_INODE:
            parent = self._store.current.nodes.get(node.parent) or self._retired.get(node.parent)
            if parent is None:  # a folder gone with the file the kernel still holds
                break
            node = parent
            parts.append(node.name)
        return b"/".join(reversed(parts)).decode(errors="replace")

    async def _open_lazy(self, node: Node) -> pyfuse3.FileInfo:
        """Fetch on first open (or after the TTL). Until then the size was unknown (0, never cached by
        the kernel), so the kernel asks for it again before reading past it and gets the real one."""
        assert node.lazy is not None
        if self.lazy is None:
            raise pyfuse3.FUSEError(errno.EIO)
        size_was_known = self.lazy.known_size(node.lazy) is not None
        try:
            data = await self.lazy.read(node.lazy)
        except FetchFailed:  # logged once by the fetch, naming the object
            raise pyfuse3.FUSEError(errno.EIO) from None
        fh = next(self._handles)
        self._open_files[fh] = data
        return pyfuse3.FileInfo(fh=fh, keep_cache=size_was_known)

    async def read(self, fh: int, off: int, size: int) -> bytes:
        self.requests["read"] += 1
        return self._open_files[fh][off : off + size]

    async def release(self, fh: int) -> None:
        self.requests["release"] += 1
        self._open_files.pop(fh, None)

    # -- directories ---------------------------------------------------------------------------

    async def opendir(self, inode: int, ctx: pyfuse3.RequestContext) -> int:
        self.requests["opendir"] += 1
        node = self._node(inode)
        if not node.is_dir:
            raise pyfuse3.FUSEError(errno.ENOTDIR)
        fh = next(self._handles)
        self._open_dirs[fh] = self._store.current.listing(inode)
        return fh

    async def readdir(self, fh: int, start_id: int, token: pyfuse3.ReaddirToken) -> None:
        self.requests["readdir"] += 1
        entries = self._open_dirs[fh]
        for index in range(start_id, len(entries)):
            node = entries[index]
            if not pyfuse3.readdir_reply(token, node.name, self.attributes(node), index + 1):
                return
            self._lookups[node.inode] += 1

    async def releasedir(self, fh: int) -> None:
        self._open_dirs.pop(fh, None)

    async def statfs(self, ctx: pyfuse3.RequestContext) -> pyfuse3.StatvfsData:
        snapshot = self._store.current
        stats = pyfuse3.StatvfsData()
        stats.f_bsize = stats.f_frsize = 4096
        stats.f_blocks = (snapshot.total_bytes + 4095) // 4096
        stats.f_bfree = stats.f_bavail = 0
        stats.f_files = len(snapshot.nodes)
        stats.f_ffree = stats.f_favail = 0
        stats.f_namemax = 255
        return stats

    # -- extended attributes: none, and none can be set -----------------------------------------

    async def getxattr(self, inode: int, name: bytes, ctx: pyfuse3.RequestContext) -> bytes:
        self._node(inode)
        raise pyfuse3.FUSEError(pyfuse3.ENOATTR)

    async def listxattr(self, inode: int, ctx: pyfuse3.RequestContext) -> Sequence[bytes]:
        self._node(inode)
        return []

    # -- every write-type operation is refused ---------------------------------------------------

    async def setxattr(self, inode: int, name: bytes, value: bytes, ctx: pyfuse3.RequestContext) -> None:
        raise _refuse()

    async def removexattr(self, inode: int, name: bytes, ctx: pyfuse3.RequestContext) -> None:
        raise _refuse()

    async def setattr(
        self,
        inode: int,
        attr: pyfuse3.EntryAttributes,
        fields: pyfuse3.SetattrFields,
        fh: int | None,
        ctx: pyfuse3.RequestContext,
    ) -> pyfuse3.EntryAttributes:
        raise _refuse()

    async def write(self, fh: int, off: int, buf: bytes) -> int:
        raise _refuse()

    async def create(
        self, parent_inode: int, name: bytes, mode: int, flags: int, ctx: pyfuse3.RequestContext
    ) -> tuple[pyfuse3.FileInfo, pyfuse3.EntryAttributes]:
        raise _refuse()

    async def mknod(
        self, parent_inode: int, name: bytes, mode: int, rdev: int, ctx: pyfuse3.RequestContext
    ) -> pyfuse3.EntryAttributes:
        raise _refuse()

    async def mkdir(
        self, parent_inode: int, name: bytes, mode: int, ctx: pyfuse3.RequestContext
    ) -> pyfuse3.EntryAttributes:
        raise _refuse()

    async def unlink(self, parent_inode: int, name: bytes, ctx: pyfuse3.RequestContext) -> None:
        raise _refuse()

    async def rmdir(self, parent_inode: int, name: bytes, ctx: pyfuse3.RequestContext) -> None:
        raise _refuse()

    async def symlink(
        self, parent_inode: int, name: bytes, target: bytes, ctx: pyfuse3.RequestContext
    ) -> pyfuse3.EntryAttributes:
        raise _refuse()

    async def link(
        self, inode: int, new_parent_inode: int, new_name: bytes, ctx: pyfuse3.RequestContext
    ) -> pyfuse3.EntryAttributes:
        raise _refuse()

    async def rename(
        self,
        parent_inode_old: int,
        name_old: bytes,
        parent_inode_new: int,
        name_new: bytes,
        flags: int,
        ctx: pyfuse3.RequestContext,
    ) -> None:
        raise _refuse()


__all__ = ["ROOT_INODE", "KvfsOperations"]

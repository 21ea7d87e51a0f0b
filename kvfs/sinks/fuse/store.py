"""The served tree: alias → current bytes, as immutable snapshots swapped whole.

Readers (the FUSE handlers) take ``store.current`` once per request and see one consistent
tree. ``publish`` builds a complete new snapshot and swaps it in one assignment, so every change
found in one refresh becomes visible together. Inode numbers are stable while a file's content
and mode stay the same; a file whose content changes gets a new inode, so that watchers of the
old one can be told it went away (see ``operations.py``).
"""

from __future__ import annotations

import hashlib
import stat
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import pyfuse3

from ...config import ObjectSpec
from ...content.files import FileContent, LazyRef

ROOT_INODE: int = pyfuse3.ROOT_INODE
DIR_MODE = stat.S_IFDIR | 0o755


@dataclass(frozen=True)
class Node:
    inode: int
    parent: int
    name: bytes
    mode: int
    mtime_ns: int
    data: bytes = field(default=b"", repr=False)
    version: str = ""
    lazy: LazyRef | None = None  # content fetched on open (``data`` stays empty)
    spec: ObjectSpec | None = field(default=None, compare=False, repr=False)  # None for folders

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.mode)


@dataclass(frozen=True)
class Snapshot:
    nodes: Mapping[int, Node]
    children: Mapping[int, Mapping[bytes, int]]  # directory inode → name → inode
    generation: int

    def child(self, parent: int, name: bytes) -> Node | None:
        inode = self.children.get(parent, {}).get(name)
        return None if inode is None else self.nodes[inode]

    def listing(self, directory: int) -> list[Node]:
        """A directory's entries in name order (stable, so readdir offsets stay valid)."""
        names = self.children.get(directory, {})
        return [self.nodes[names[n]] for n in sorted(names)]

    @property
    def file_count(self) -> int:
        return sum(1 for node in self.nodes.values() if not node.is_dir)

    @property
    def total_bytes(self) -> int:
        return sum(len(n.data) for n in self.nodes.values())

    def lazy_refs(self) -> list[LazyRef]:
        return [n.lazy for n in self.nodes.values() if n.lazy is not None]


@dataclass(frozen=True)
class Changes:
    """What a publish changed, by path: the inode each path had before and has now.

    Folders (``conf/`` of ``conf/db.txt``) appear with their first file and go with their last one.
    """

    added: dict[str, int]
    changed: dict[str, tuple[int, int]]
    removed: dict[str, int]
    added_folders: dict[str, int] = field(default_factory=dict)
    removed_folders: dict[str, int] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.added or self.changed or self.removed)


class Store:
    """Holds the current snapshot and allocates inode numbers."""

    def __init__(self) -> None:
        self._next_inode = ROOT_INODE + 1
        # path → (content digest, permission, mtime, inode): decides whether an inode survives a publish
        self._identity: dict[str, tuple[bytes, int, int, int]] = {}
        self._dir_inodes: dict[str, int] = {"": ROOT_INODE}
        self._created_ns = time.time_ns()
        self.current = self._build([], generation=0)[0]

    def publish(self, files: Iterable[FileContent]) -> Changes:
        """Swap in a snapshot holding exactly ``files``; returns what changed."""
        old, old_snapshot = self._identity.copy(), self.current
        snapshot, identity = self._build(list(files), generation=self.current.generation + 1)
        self._identity = identity
        self.current = snapshot
        added = {p: v[3] for p, v in identity.items() if p not in old}
        removed = {p: v[3] for p, v in old.items() if p not in identity}
        changed = {p: (old[p][3], v[3]) for p, v in identity.items() if p in old and old[p][3] != v[3]}
        folders = {path: inode for path, inode in self._dir_inodes.items() if path}
        return Changes(
            added=added,
            changed=changed,
            removed=removed,
            added_folders={p: i for p, i in folders.items() if i in snapshot.nodes and i not in old_snapshot.nodes},
            removed_folders={p: i for p, i in folders.items() if i in old_snapshot.nodes and i not in snapshot.nodes},
        )

    def _allocate(self) -> int:
        inode = self._next_inode
        self._next_inode += 1
        return inode

    def _dir_inode(self, path: str) -> int:
        if path not in self._dir_inodes:
            self._dir_inodes[path] = self._allocate()
        return self._dir_inodes[path]

    def _build(
        self, files: list[FileContent], generation: int
    ) -> tuple[Snapshot, dict[str, tuple[bytes, int, int, int]]]:
        nodes: dict[int, Node] = {}
        children: dict[int, dict[bytes, int]] = {ROOT_INODE: {}}
        identity: dict[str, tuple[bytes, int, int, int]] = {}
        dir_mtime: dict[int, int] = {ROOT_INODE: self._created_ns}

        for f in files:
            parts = f.path.split("/")
            parent = ROOT_INODE
            for depth in range(1, len(parts)):
                dir_path = "/".join(parts[:depth])
                inode = self._dir_inode(dir_path)
                if inode not in children:
                    children[inode] = {}
                    children[parent][parts[depth - 1].encode()] = inode
                    nodes[inode] = Node(inode, parent, parts[depth - 1].encode(), DIR_MODE, 0)
                parent = inode
            digest = hashlib.blake2b(f.data, digest_size=16).digest()
            previous = self._identity.get(f.path)
            if previous is not None and previous[:3] == (digest, f.permission, f.mtime_ns):
                inode = previous[3]
            else:
                inode = self._allocate()
            identity[f.path] = (digest, f.permission, f.mtime_ns, inode)
            name = parts[-1].encode()
            nodes[inode] = Node(
                inode, parent, name, stat.S_IFREG | f.permission, f.mtime_ns, f.data, f.version, f.lazy, f.spec
            )
            children[parent][name] = inode
            dir_mtime[parent] = max(dir_mtime.get(parent, 0), f.mtime_ns)

        for inode, node in list(nodes.items()):
            if node.is_dir:
                nodes[inode] = Node(inode, node.parent, node.name, DIR_MODE, dir_mtime.get(inode, self._created_ns))
        nodes[ROOT_INODE] = Node(ROOT_INODE, ROOT_INODE, b"", DIR_MODE, max(dir_mtime.values()))
        return Snapshot(nodes=nodes, children=children, generation=generation), identity

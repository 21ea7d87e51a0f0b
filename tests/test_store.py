"""The store: snapshots, inode stability, change reports."""

from __future__ import annotations

import stat

from kvfs.content.files import FileContent
from kvfs.sinks.fuse.store import ROOT_INODE, Store


def _file(path: str, data: bytes, permission: int = 0o644, mtime_ns: int = 1_000, version: str = "v1") -> FileContent:
    return FileContent(path, data, permission, mtime_ns, version)


def test_publish_builds_a_tree_with_folders() -> None:
    store = Store()
    store.publish([_file("a", b"alpha"), _file("hist/0", b"new"), _file("hist/1", b"old")])
    snap = store.current
    names = [n.name for n in snap.listing(ROOT_INODE)]
    assert names == [b"a", b"hist"]
    folder = snap.child(ROOT_INODE, b"hist")
    assert folder is not None and folder.is_dir
    assert [n.data for n in snap.listing(folder.inode)] == [b"new", b"old"]
    assert snap.nodes[ROOT_INODE].is_dir


def test_inodes_are_stable_while_content_is_unchanged() -> None:
    store = Store()
    store.publish([_file("a", b"alpha"), _file("b", b"beta")])
    first = {n.name: n.inode for n in store.current.listing(ROOT_INODE)}
    changes = store.publish([_file("a", b"alpha"), _file("b", b"beta")])
    second = {n.name: n.inode for n in store.current.listing(ROOT_INODE)}
    assert first == second
    assert not changes


def test_changed_content_gets_a_new_inode_and_is_reported() -> None:
    store = Store()
    store.publish([_file("a", b"alpha"), _file("b", b"beta")])
    old_a = store.current.child(ROOT_INODE, b"a").inode
    changes = store.publish([_file("a", b"alpha2", mtime_ns=2_000), _file("c", b"gamma")])
    new_a = store.current.child(ROOT_INODE, b"a").inode
    assert new_a != old_a
    assert changes.changed == {"a": (old_a, new_a)}
    assert set(changes.added) == {"c"}
    assert set(changes.removed) == {"b"}
    assert store.current.child(ROOT_INODE, b"b") is None


def test_file_mode_and_mtime_come_from_the_content() -> None:
    store = Store()
    store.publish([_file("k", b"key", permission=0o600, mtime_ns=1_700_000_000_000_000_000)])
    node = store.current.child(ROOT_INODE, b"k")
    assert stat.S_ISREG(node.mode)
    assert stat.S_IMODE(node.mode) == 0o600
    assert node.mtime_ns == 1_700_000_000_000_000_000


def test_an_old_snapshot_is_unaffected_by_a_publish() -> None:
    store = Store()
    store.publish([_file("a", b"one")])
    held = store.current
    store.publish([_file("a", b"two")])
    assert held.child(ROOT_INODE, b"a").data == b"one"
    assert store.current.child(ROOT_INODE, b"a").data == b"two"


def test_nested_folders_are_shared_and_reported_when_they_come_and_go() -> None:
    store = Store()
    changes = store.publish([_file("conf/db.txt", b"db"), _file("conf/api.txt", b"api"), _file("top", b"t")])
    conf = store.current.child(ROOT_INODE, b"conf")
    assert conf is not None and conf.is_dir
    assert [n.name for n in store.current.listing(conf.inode)] == [b"api.txt", b"db.txt"]
    assert changes.added_folders == {"conf": conf.inode}

    changes = store.publish([_file("conf/db.txt", b"db"), _file("top", b"t"), _file("a/b/c", b"deep")])
    a = store.current.child(ROOT_INODE, b"a")
    b = store.current.child(a.inode, b"b")
    assert store.current.child(b.inode, b"c").data == b"deep"
    assert changes.added_folders == {"a": a.inode, "a/b": b.inode}
    assert changes.removed_folders == {}
    assert set(changes.removed) == {"conf/api.txt"}

    changes = store.publish([_file("top", b"t")])
    assert changes.removed_folders == {"conf": conf.inode, "a": a.inode, "a/b": b.inode}
    assert [n.name for n in store.current.listing(ROOT_INODE)] == [b"top"]

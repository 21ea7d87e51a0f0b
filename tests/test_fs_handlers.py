"""FUSE handlers called directly, without a mount (the mounted behaviour is in tests/mount)."""

from __future__ import annotations

import errno
import os
import stat

import pyfuse3
import pytest

from kvfs.content.files import FileContent
from kvfs.sinks.fuse.operations import KvfsOperations
from kvfs.sinks.fuse.store import ROOT_INODE, Store

CTX = pyfuse3.RequestContext()


@pytest.fixture
def ops() -> KvfsOperations:
    store = Store()
    store.publish(
        [
            FileContent("password", b"s3cret-value", 0o600, 1_600_000_000_000_000_000, "v1"),
            FileContent("hist/0", b"newest", 0o644, 2, "v2"),
        ]
    )
    return KvfsOperations(store, uid=1234, gid=5678)


async def test_lookup_and_getattr_report_size_mode_owner_and_mtime(ops: KvfsOperations) -> None:
    attr = await ops.lookup(ROOT_INODE, b"password", CTX)
    assert attr.st_size == len(b"s3cret-value")
    assert stat.S_IMODE(attr.st_mode) == 0o600 and stat.S_ISREG(attr.st_mode)
    assert (attr.st_uid, attr.st_gid) == (1234, 5678)
    assert attr.st_mtime_ns == 1_600_000_000_000_000_000
    again = await ops.getattr(attr.st_ino, CTX)
    assert again.st_ino == attr.st_ino


async def test_lookup_of_a_missing_name_is_enoent(ops: KvfsOperations) -> None:
    with pytest.raises(pyfuse3.FUSEError) as info:
        await ops.lookup(ROOT_INODE, b"nope", CTX)
    assert info.value.errno == errno.ENOENT


async def test_open_pins_the_bytes_it_opened(ops: KvfsOperations) -> None:
    attr = await ops.lookup(ROOT_INODE, b"password", CTX)
    handle = await ops.open(attr.st_ino, os.O_RDONLY, CTX)
    ops._store.publish([FileContent("password", b"rotated", 0o600, 3, "v2")])
    assert await ops.read(handle.fh, 0, 100) == b"s3cret-value"
    assert await ops.read(handle.fh, 3, 4) == b"ret-"
    await ops.release(handle.fh)


@pytest.mark.parametrize("flags", [os.O_WRONLY, os.O_RDWR, os.O_RDONLY | os.O_TRUNC, os.O_WRONLY | os.O_APPEND])
async def test_open_for_writing_is_refused(ops: KvfsOperations, flags: int) -> None:
    attr = await ops.lookup(ROOT_INODE, b"password", CTX)
    with pytest.raises(pyfuse3.FUSEError) as info:
        await ops.open(attr.st_ino, flags, CTX)
    assert info.value.errno == errno.EROFS


async def test_write_type_operations_are_refused_and_change_nothing(ops: KvfsOperations) -> None:
    before = ops._store.current
    attempts = [
        ops.unlink(ROOT_INODE, b"password", CTX),
        ops.mkdir(ROOT_INODE, b"d", 0o755, CTX),
        ops.create(ROOT_INODE, b"new", 0o644, os.O_WRONLY, CTX),
        ops.rename(ROOT_INODE, b"password", ROOT_INODE, b"other", 0, CTX),
        ops.setxattr(ROOT_INODE, b"user.x", b"1", CTX),
        ops.symlink(ROOT_INODE, b"l", b"password", CTX),
    ]
    for attempt in attempts:
        with pytest.raises(pyfuse3.FUSEError) as info:
            await attempt
        assert info.value.errno == errno.EROFS
    assert ops._store.current is before


async def test_forgotten_retired_nodes_disappear(ops: KvfsOperations) -> None:
    attr = await ops.lookup(ROOT_INODE, b"password", CTX)
    old = ops._store.current.nodes[attr.st_ino]
    ops._store.publish([FileContent("password", b"rotated", 0o600, 3, "v2")])
    ops.retire([old])
    assert (await ops.getattr(attr.st_ino, CTX)).st_size == len(b"s3cret-value")
    await ops.forget([(attr.st_ino, 1)])
    with pytest.raises(pyfuse3.FUSEError):
        await ops.getattr(attr.st_ino, CTX)


async def test_statfs_counts_files_and_bytes(ops: KvfsOperations) -> None:
    stats = await ops.statfs(CTX)
    assert stats.f_files == 4  # root, password, hist, hist/0
    assert stats.f_bavail == 0 and stats.f_namemax == 255

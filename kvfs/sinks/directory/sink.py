"""The writer mode as a sink: every change set becomes one atomic swap of the directory's ``..data``.

The directory must be in memory (tmpfs or ramfs) unless the user passes ``--allow-disk``: the mount's
rule, "secrets never on disk unless asked", holds here too. A write that fails (a full tmpfs) leaves
the last whole version in place, is logged once and retried with backoff.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import trio

from ...backoff import Backoff
from ...content.files import ChangeSet
from ...errors import ConfigError
from .memory import memory_filesystem
from .writer import DATA, DATA_TMP, AtomicWriter, Entry, Payload

log = logging.getLogger(__name__)


def prepare_directory(target: Path, *, allow_disk: bool) -> bool:
    """Check (and make) the target before anything else happens; True when it is on a disk (``--allow-disk``).

    The last folder is made when its parent exists. A directory holding anything but a kvfs (or kubelet)
    layout is refused: kvfs would otherwise write its names among the user's files.
    """
    exists = target.exists()
    if not exists and not target.parent.is_dir():
        raise ConfigError(f"{target} does not exist, nor does its parent folder {target.parent}")
    if exists and not target.is_dir():
        raise ConfigError(f"{target} is not a directory")
    memory = memory_filesystem(target if exists else target.parent)
    if memory is None and not allow_disk:
        raise ConfigError(
            f"{target} is not in memory (tmpfs or ramfs): secrets would be written to a disk; use an emptyDir with "
            "medium: Memory or a tmpfs, or pass --allow-disk to accept it"
        )
    foreign = [entry for entry in sorted(os.listdir(target)) if not _ours(target / entry)] if exists else []
    if foreign:
        raise ConfigError(
            f"{target} holds files kvfs did not write ({foreign[0]}{' and more' if len(foreign) > 1 else ''}): "
            "give an empty directory (or one an earlier kvfs sync-dir wrote)"
        )
    if not exists:
        target.mkdir(mode=0o755)
    if memory is None:
        log.warning("%s is not in memory: secrets are written to a disk (--allow-disk)", target)
    return memory is None


def _ours(path: Path) -> bool:
    """Part of an atomic-writer layout: ``..data``, ``..data_tmp``, version folders, links into ``..data``."""
    name = path.name
    if name in (DATA, DATA_TMP) or (name.startswith("..") and path.is_dir() and not path.is_symlink()):
        return True
    return path.is_symlink() and os.readlink(path).startswith(f"{DATA}/")


@dataclass
class DirectoryStats:
    swaps: int = 0
    unchanged: int = 0
    failures: int = 0


class DirectorySink:
    name = "directory"

    def __init__(self, target: Path, *, uid: int | None, gid: int | None, durable: bool, retry_ceiling: float = 60.0):
        self.target = target
        self.writer = AtomicWriter(target, uid=uid, gid=gid, durable=durable)
        self.stats = DirectoryStats()
        self.written = False  # the latest change set is the one on display
        self._pending: Payload | None = None
        self._reported = ""
        self._retry = trio.Event()
        self._backoff = Backoff(retry_ceiling)

    def clean_up(self) -> None:
        """What a killed writer left, before the first write."""
        self.writer.clean_up()

    async def publish(self, change: ChangeSet) -> None:
        payload = {f.path: Entry(f.data, f.permission) for f in change.files}
        await self._write(payload, change.generation)
        if not self.written:
            self._retry.set()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Retry a failed write with backoff until it succeeds (or a newer change set replaces it)."""
        task_status.started()
        while True:
            await self._retry.wait()
            self._retry = trio.Event()
            while self._pending is not None:
                await trio.sleep(self._backoff.next_delay())
                if self._pending is not None:
                    await self._write(self._pending, None)
            self._backoff.reset()

    async def _write(self, payload: Payload, generation: int | None) -> None:
        try:
            changed = await trio.to_thread.run_sync(self.writer.write, payload)
        except OSError as exc:
            self.written = False
            self._pending = payload
            self.stats.failures += 1
            message = f"cannot write {self.target}: {exc.strerror or exc}; the last whole version stays in place"
            if message != self._reported:
                self._reported = message
                log.error("%s", message)
            return
        self.written, self._pending = True, None
        if self._reported:
            log.info("%s written again", self.target)
            self._reported = ""
        if changed:
            self.stats.swaps += 1
            log.info(
                "%s: new version of %d files (..data swapped)",
                self.target,
                len(payload),
                extra={"generation": generation},
            )
        else:
            self.stats.unchanged += 1

"""The kubelet's atomic writer, for a directory kvfs keeps current.

Layout (as the kubelet writes ConfigMap and Secret volumes, and as tools that watch them expect)::

    DIR/..2026_11_27_10_00_00.123456   a folder holding one whole version of every file
    DIR/..data -> ..2026_11_27_10_00_00.123456
    DIR/db-password -> ..data/db-password    one symlink per visible top-level name
    DIR/conf -> ..data/conf                   (folders inside the version folder stay folders)

A new version is written into a new timestamped folder, then ``..data`` is switched to it by renaming a
new symlink over it: one rename, so readers see the old or the new version of every file, never a mix
within a file, and every file of one swap changes at once. Then the visible names are fixed up and the
old folder removed. Killed at any step, the directory still shows one whole version; ``clean_up`` removes
what a killed writer left half-done. Nothing here is specific to Linux (``os`` and ``pathlib`` only).
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import stat
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

DATA = "..data"
DATA_TMP = "..data_tmp"
FOLDER_MODE = 0o755


@dataclass(frozen=True)
class Entry:
    data: bytes = field(repr=False)
    mode: int


Payload = Mapping[str, Entry]  # relative '/'-separated path → content and permission bits


class AtomicWriter:
    def __init__(
        self,
        target: Path,
        *,
        uid: int | None = None,
        gid: int | None = None,
        durable: bool = False,
        on_step: Callable[[str], None] | None = None,
    ) -> None:
        """``durable``: fsync files and folders (for a disk target; tmpfs has nothing to flush).
        ``on_step`` is told each step of a swap by name (tests kill the writer there)."""
        self.target = target
        self.uid, self.gid = uid, gid
        self.durable = durable
        self._on_step = on_step or (lambda step: None)

    # -- reading what is there -----------------------------------------------------------------

    def current_folder(self) -> Path | None:
        """The version folder ``..data`` points to, if any."""
        data = self.target / DATA
        try:
            name = os.readlink(data)
        except OSError:
            return None
        folder = self.target / name
        return folder if folder.is_dir() else None

    def current(self) -> dict[str, Entry]:
        """The version served now, as a payload (empty when there is none)."""
        folder = self.current_folder()
        if folder is None:
            return {}
        found: dict[str, Entry] = {}
        for root, _dirs, files in os.walk(folder):
            for name in files:
                path = Path(root) / name
                relative = path.relative_to(folder).as_posix()
                found[relative] = Entry(path.read_bytes(), stat.S_IMODE(path.stat().st_mode))
        return found

    # -- after a crash ------------------------------------------------------------------------

    def clean_up(self) -> list[str]:
        """Remove what a killed writer left: version folders ``..data`` does not point to, a stray
        ``..data_tmp``, and visible symlinks into ``..data`` naming nothing. Returns what was removed."""
        removed: list[str] = []
        keep = self.current_folder()
        for entry in sorted(os.listdir(self.target)):
            path = self.target / entry
            if entry == DATA_TMP:
                path.unlink()
                removed.append(entry)
            elif entry.startswith("..") and entry != DATA and path.is_dir() and not path.is_symlink():
                if keep is None or path.name != keep.name:
                    shutil.rmtree(path)
                    removed.append(entry)
            elif path.is_symlink() and _points_into_data(path) and not path.exists():
                path.unlink()
                removed.append(entry)
        if removed:
            log.info("removed what an interrupted write left in %s: %s", self.target, ", ".join(removed))
        return removed

    # -- writing a version ---------------------------------------------------------------------

    def write(self, payload: Payload) -> bool:
        """Make ``payload`` the served version; False (and nothing touched) when it already is."""
        if self.current() == dict(payload):
            return False
        old = self.current_folder()
        new = self._new_folder()
        for relative, entry in sorted(payload.items()):
            self._write_file(new, relative, entry)
        self._sync(new)
        self._on_step("wrote-folder")
        link = self.target / DATA_TMP
        if link.is_symlink():
            link.unlink()
        os.symlink(new.name, link)
        self._on_step("linked")
        os.replace(link, self.target / DATA)  # the swap: one rename
        self._sync(self.target)
        self._on_step("swapped")
        self._fix_visible_names(payload)
        self._on_step("visible")
        if old is not None and old != new:
            shutil.rmtree(old)
        self._on_step("cleaned")
        return True

    def _new_folder(self) -> Path:
        """``..YYYY_MM_DD_HH_MM_SS.<digits>``, as the kubelet names it (UTC time, Go's MkdirTemp suffix)."""
        prefix = time.strftime("..%Y_%m_%d_%H_%M_%S.", time.gmtime())
        while True:
            folder = self.target / f"{prefix}{secrets.randbelow(2**32)}"
            try:
                folder.mkdir(mode=0o700)
                break
            except FileExistsError:
                continue
        folder.chmod(FOLDER_MODE)
        self._own(folder)
        return folder

    def _write_file(self, folder: Path, relative: str, entry: Entry) -> None:
        path = folder.joinpath(*relative.split("/"))
        for parent in reversed(path.relative_to(folder).parents[:-1]):
            sub = folder / parent
            if not sub.is_dir():
                sub.mkdir(mode=FOLDER_MODE)
                sub.chmod(FOLDER_MODE)
                self._own(sub)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            view = memoryview(entry.data)
            while view:
                view = view[os.write(descriptor, view) :]
            if self.durable:
                os.fsync(descriptor)
        finally:
            os.close(descriptor)
        os.chmod(path, entry.mode)
        self._own(path)

    def _fix_visible_names(self, payload: Payload) -> None:
        """One ``name -> ..data/name`` symlink per top-level name; those no longer served go."""
        wanted = {relative.split("/", 1)[0] for relative in payload}
        for name in sorted(wanted):
            link = self.target / name
            if link.is_symlink() and os.readlink(link) == f"{DATA}/{name}":
                continue
            if link.is_symlink():
                link.unlink()
            os.symlink(f"{DATA}/{name}", link)
        for entry in os.listdir(self.target):
            path = self.target / entry
            if entry not in wanted and path.is_symlink() and _points_into_data(path):
                path.unlink()

    def _own(self, path: Path) -> None:
        if self.uid is not None or self.gid is not None:
            os.chown(path, -1 if self.uid is None else self.uid, -1 if self.gid is None else self.gid)

    def _sync(self, folder: Path) -> None:
        """fsync a folder's entries to disk (only for a durable target; not possible on Windows)."""
        if not self.durable or not hasattr(os, "O_DIRECTORY"):
            return
        descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def _points_into_data(link: Path) -> bool:
    return os.readlink(link).startswith(f"{DATA}/")

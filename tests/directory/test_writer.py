"""The atomic writer: the kubelet's layout, one ``..data`` swap per version, whole versions for readers,
one rename event per swap for watchers, and a whole version after a kill at any step of a swap."""

from __future__ import annotations

import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from inotify_simple import INotify
from inotify_simple import flags as inotify_flags

from kvfs.sinks.directory.memory import memory_filesystem
from kvfs.sinks.directory.writer import DATA, AtomicWriter, Entry

#: The kubelet's version folder name: time.Now().UTC().Format("..2006_01_02_15_04_05.") + MkdirTemp's digits.
KUBELET_FOLDER = re.compile(r"\.\.\d{4}_\d{2}_\d{2}_\d{2}_\d{2}_\d{2}\.\d+")
STEPS = ("wrote-folder", "linked", "swapped", "visible", "cleaned")


@pytest.fixture
def target() -> Iterator[Path]:
    """A directory on tmpfs, as a pod's emptyDir with medium: Memory."""
    parent = Path(tempfile.mkdtemp(prefix="kvfs-writer-", dir="/dev/shm"))
    assert memory_filesystem(parent) == "tmpfs", "/dev/shm must be a tmpfs for these tests"
    yield parent / "kv"
    shutil.rmtree(parent, ignore_errors=True)


def version(n: int) -> dict[str, Entry]:
    return {
        "db-password": Entry(f"password-{n}".encode(), 0o600),
        "conf/app.json": Entry(f'{{"version": {n}}}'.encode(), 0o644),
        "signing/0": Entry(f"key-{n}-newest".encode(), 0o644),
        "signing/1": Entry(f"key-{n}-older".encode(), 0o644),
    }


def read_visible(target: Path) -> dict[str, bytes]:
    """What an application reads through the visible names."""
    return {rel: (target / rel).read_bytes() for rel in version(0)}


def test_the_layout_is_the_kubelets(target: Path) -> None:
    target.mkdir()
    writer = AtomicWriter(target)
    assert writer.write(version(1)) is True
    entries = sorted(os.listdir(target))
    folders = [e for e in entries if KUBELET_FOLDER.fullmatch(e)]
    assert len(folders) == 1
    assert entries == sorted([*folders, DATA, "conf", "db-password", "signing"])
    assert os.readlink(target / DATA) == folders[0]  # relative, as the kubelet's
    for name in ("conf", "db-password", "signing"):
        assert os.readlink(target / name) == f"..data/{name}"
    folder = target / folders[0]
    assert stat.S_IMODE(folder.stat().st_mode) == 0o755
    assert stat.S_IMODE((folder / "db-password").stat().st_mode) == 0o600
    assert stat.S_IMODE((folder / "conf" / "app.json").stat().st_mode) == 0o644
    assert (folder / "signing").is_dir() and not (folder / "signing").is_symlink()  # history folders stay folders
    assert read_visible(target) == {rel: e.data for rel, e in version(1).items()}


def test_nothing_is_rewritten_when_nothing_changed_and_the_old_folder_goes(target: Path) -> None:
    target.mkdir()
    writer = AtomicWriter(target)
    writer.write(version(1))
    first = os.readlink(target / DATA)
    assert writer.write(version(1)) is False
    assert os.readlink(target / DATA) == first
    smaller = {k: v for k, v in version(2).items() if not k.startswith("conf/")}
    assert writer.write(smaller) is True
    assert not (target / first).exists()  # the previous version folder is removed after the swap
    assert not (target / "conf").is_symlink()  # a name no longer served goes
    assert sorted(os.listdir(target)) == sorted([os.readlink(target / DATA), DATA, "db-password", "signing"])


def test_32_readers_during_100_swaps_see_only_whole_versions(target: Path) -> None:
    target.mkdir()
    writer = AtomicWriter(target)
    writer.write(version(0))
    stop = threading.Event()
    problems: list[str] = []
    reads = [0]

    def reader() -> None:
        while not stop.is_set():
            folder_view = (target / DATA).resolve()  # what a consistent reader does: one ..data resolution
            try:
                seen = {rel: (folder_view / rel).read_bytes() for rel in version(0)}
            except FileNotFoundError:
                continue  # that version was just removed: read again through the new ..data
            numbers = {re.search(rb"\d+", data).group() for data in seen.values()}  # type: ignore[union-attr]
            if len(numbers) != 1:
                problems.append(f"mixed versions {seen}")
            for rel in version(0):  # and through the visible names: each file whole
                try:
                    data = (target / rel).read_bytes()
                except FileNotFoundError:
                    continue
                if data not in {e.data for n in range(101) for k, e in version(n).items() if k == rel}:
                    problems.append(f"{rel}: partial content {data!r}")
            reads[0] += 1

    threads = [threading.Thread(target=reader) for _ in range(32)]
    for thread in threads:
        thread.start()
    for n in range(1, 101):
        assert writer.write(version(n))
    stop.set()
    for thread in threads:
        thread.join()
    assert problems == []
    assert reads[0] > 100
    assert read_visible(target) == {rel: e.data for rel, e in version(100).items()}
    assert len([e for e in os.listdir(target) if KUBELET_FOLDER.fullmatch(e)]) == 1


def test_a_directory_watcher_sees_each_swap_once(target: Path) -> None:
    target.mkdir()
    writer = AtomicWriter(target)
    writer.write(version(0))
    with INotify() as watcher:
        watcher.add_watch(str(target), inotify_flags.MOVED_TO | inotify_flags.CREATE | inotify_flags.DELETE)
        for n in range(1, 6):
            writer.write(version(n))
        writer.write(version(5))  # unchanged: no swap
        events = watcher.read(timeout=1000)
    renames = [e.name for e in events if e.mask & inotify_flags.MOVED_TO]
    assert renames == [DATA] * 5


HARNESS = """
import os, signal, sys
from pathlib import Path
from kvfs.sinks.directory.writer import AtomicWriter, Entry
target, step = Path(sys.argv[1]), sys.argv[2]
from tests.directory.test_writer import version
AtomicWriter(target).write(version(1))
def kill_at(name):
    if name == step:
        os.kill(os.getpid(), signal.SIGKILL)
AtomicWriter(target, on_step=kill_at).write(version(2))
"""


@pytest.mark.parametrize("step", STEPS)
def test_killed_at_any_step_a_whole_version_is_served_and_clean_up_removes_the_rest(target: Path, step: str) -> None:
    target.mkdir()
    harness = subprocess.run(
        [sys.executable, "-c", HARNESS, str(target), step],
        capture_output=True,
        check=False,
        cwd=Path(__file__).parents[2],
    )
    assert harness.returncode == -signal.SIGKILL, harness.stderr.decode()
    served = read_visible(target)
    whole = [n for n in (1, 2) if served == {rel: e.data for rel, e in version(n).items()}]
    assert len(whole) == 1, f"killed after {step}: {served}"
    writer = AtomicWriter(target)
    writer.clean_up()
    assert read_visible(target) == served  # clean-up never touches what is served
    folders = [e for e in os.listdir(target) if KUBELET_FOLDER.fullmatch(e)]
    assert folders == [os.readlink(target / DATA)]  # no half-written version left
    assert "..data_tmp" not in os.listdir(target)
    writer.write(version(3))
    assert read_visible(target) == {rel: e.data for rel, e in version(3).items()}

"""The audit trail's queue, windows and accounting, on trio's mock clock with a sink in memory.

The mount tests (tests/mount/test_audit.py) cover the same through real opens; here the clock is
ours, so window edges and a full queue are exact.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import trio
import trio.lowlevel
import trio.testing

from kvfs.config import ObjectSpec
from kvfs.errors import ConfigError
from kvfs.sinks.fuse.audit import AuditSink, AuditTrail
from kvfs.sinks.fuse.callers import Process, describe, supplementary_groups
from kvfs.sinks.fuse.store import Node

SPEC = ObjectSpec(0, "db-password", "secret", "conf/db.txt")


class MemorySink(AuditSink):
    """Collects what would be written; ``hold`` blocks writes until released, as a stalled pipe does;
    ``fail`` makes writes fail. Records whether two threads ever wrote at once, or wrote after close."""

    def __init__(self) -> None:
        self.target = "memory"
        self.data = b""
        self.hold = threading.Event()
        self.hold.set()
        self.fail = False
        self.closed = False
        self.writing = 0
        self.misuse: list[str] = []

    def write(self, data: bytes) -> None:
        self.writing += 1
        if self.writing > 1 or self.closed:
            self.misuse.append("concurrent write" if self.writing > 1 else "write after close")
        try:
            self.hold.wait()
            if self.fail:
                raise OSError(28, "No space left on device")
            self.data += data
        finally:
            self.writing -= 1

    def close(self) -> None:
        if self.writing:
            self.misuse.append("close during a write")
        self.closed = True

    def lines(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.data.decode().splitlines()]


def trail(sink: MemorySink, **kwargs: float) -> AuditTrail:
    return AuditTrail(sink, describe=lambda tid: Process(tid + 1000, f"cmd{tid}", f"/bin/cmd{tid}"), **kwargs)  # type: ignore[arg-type]


async def until(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    """Checkpoints until ``condition`` holds: the writer's thread finishes in real time, not mock time."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await trio.lowlevel.checkpoint()


def opened(audit: AuditTrail, tid: int = 1, inode: int = 7, allowed: bool = True) -> None:
    node = Node(inode, 3, b"db.txt", 0o100644, 0, b"", "v1", spec=SPEC)
    audit.record(node, lambda n: "conf/" + n.name.decode(), 1000, 1000, tid, allowed)


async def test_repeated_opens_in_a_window_are_one_line_with_a_count(mock_clock: trio.testing.MockClock) -> None:
    sink = MemorySink()
    audit = trail(sink, coalesce=10.0)
    async with trio.open_nursery() as nursery:
        await nursery.start(audit.run)
        for _ in range(5):
            opened(audit)
            mock_clock.jump(1)
        opened(audit, tid=2)  # another thread: its own line
        opened(audit, allowed=False)  # a refused open is not folded into allowed ones
        mock_clock.jump(5.5)  # the first window (opened at t=0) has closed; the others have not
        await until(lambda: audit.stats.events == 1)
        assert [line["count"] for line in sink.lines()] == [5]
        opened(audit)  # after the window: a new line
        mock_clock.jump(11)
        await until(lambda: audit.stats.events == 4)
        nursery.cancel_scope.cancel()
    lines = sink.lines()
    assert [(line["pid"], line["allowed"], line["count"]) for line in lines] == [
        (1001, True, 5),
        (1002, True, 1),
        (1001, False, 1),
        (1001, True, 1),
    ]
    first = lines[0]
    assert first["path"] == "conf/db.txt" and first["alias"] == "conf/db.txt" and first["object"] == "db-password"
    assert first["kind"] == "secret" and first["version"] == "v1" and first["uid"] == first["gid"] == 1000
    assert first["comm"] == "cmd1" and first["exe"] == "/bin/cmd1" and first["time"] <= first["last"]
    assert "last" not in lines[1]
    assert audit.stats.events == 4 and audit.stats.opens_coalesced == 4 and audit.stats.dropped == 0


async def test_a_full_queue_counts_dropped_opens_and_says_so_in_the_log() -> None:
    sink = MemorySink()
    audit = trail(sink, coalesce=0.0, capacity=3)
    async with trio.open_nursery() as nursery:
        await nursery.start(audit.run)
        for tid in range(10):  # no checkpoint between them: the writer cannot run, so the queue fills
            opened(audit, tid=tid)
        assert audit.pending == 3 and audit.stats.dropped == 7
        await until(lambda: audit.stats.events == 3)
        opened(audit, tid=99)
        await until(lambda: audit.stats.events == 4)
        nursery.cancel_scope.cancel()
    lines = sink.lines()
    assert [line["event"] for line in lines] == ["open", "open", "open", "dropped", "open"]
    assert lines[3]["count"] == 7 and lines[3]["time"] <= lines[3]["last"]
    assert audit.stats.events + audit.stats.dropped == 11 and audit.pending == 0


async def test_what_is_still_open_at_unmount_is_written_then() -> None:
    sink = MemorySink()
    audit = trail(sink, coalesce=3600.0)
    async with trio.open_nursery() as nursery:
        await nursery.start(audit.run)
        opened(audit)
        opened(audit)
        await trio.testing.wait_all_tasks_blocked()
        assert sink.lines() == []  # the window is an hour long
        nursery.cancel_scope.cancel()
    assert [line["count"] for line in sink.lines()] == [2]
    await until(lambda: sink.closed)  # by the writer thread, once it has finished


def accounted(audit: AuditTrail) -> int:
    """Every open, by where it is: in a written line, in a line not written yet, or dropped."""
    return audit.stats.opens_written + audit.opens_pending + audit.stats.dropped


async def test_a_stalled_sink_never_blocks_an_open_and_every_open_is_accounted_for() -> None:
    sink = MemorySink()
    sink.hold.clear()  # the reader of the log has stopped reading
    audit = trail(sink, coalesce=0.0, capacity=100)
    async with trio.open_nursery() as nursery:
        await nursery.start(audit.run)
        for n in range(10_000):
            opened(audit, tid=n % 5000)  # each thread twice: coalesced or not, every open is counted once
            if n % 1000 == 0:
                await trio.lowlevel.checkpoint()  # let the writer take a batch, which then hangs in its thread
        assert accounted(audit) == 10_000
        assert audit.stats.dropped >= 10_000 - 300
        sink.hold.set()
        await until(lambda: audit.pending == 0)
        nursery.cancel_scope.cancel()
    lines = sink.lines()
    written = sum(int(line["count"]) for line in lines if line["event"] == "open")  # type: ignore[call-overload]
    dropped = sum(int(line["count"]) for line in lines if line["event"] == "dropped")  # type: ignore[call-overload]
    assert written + dropped == 10_000 and sink.misuse == []


async def test_unmount_with_a_stalled_sink_counts_what_it_could_not_write_and_never_closes_under_a_write() -> None:
    sink = MemorySink()
    sink.hold.clear()
    audit = trail(sink, coalesce=0.0)
    async with trio.open_nursery() as nursery:
        await nursery.start(audit.run)
        for n in range(50):
            opened(audit, tid=n)
        await until(lambda: len(audit._in_flight) > 0)  # a batch is stuck in the writer thread
        for n in range(50, 60):
            opened(audit, tid=n)
        nursery.cancel_scope.cancel()  # unmount: the flush gives up after FLUSH_AT_EXIT
    assert audit.stats.dropped == 60 and audit.stats.opens_written == 0 and accounted(audit) == 60
    sink.hold.set()  # the stalled reader wakes up later: the batch it held is written, then the sink closed
    await until(lambda: sink.closed)
    assert sink.misuse == [] and len(sink.lines()) == 50


async def test_a_failing_sink_counts_its_opens_as_dropped_once() -> None:
    sink = MemorySink()
    sink.fail = True
    audit = trail(sink, coalesce=10.0)
    async with trio.open_nursery() as nursery:
        await nursery.start(audit.run)
        for _ in range(3):
            opened(audit)
        nursery.cancel_scope.cancel()
    assert (audit.stats.dropped, audit.stats.opens_coalesced, audit.stats.write_failures) == (3, 0, 1)
    assert accounted(audit) == 3


def test_the_log_file_is_created_private_and_a_bad_path_is_a_configuration_error(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    sink = AuditSink(str(path))
    sink.write(b"{}\n")
    sink.close()
    assert path.stat().st_mode & 0o777 == 0o600 and path.read_bytes() == b"{}\n"
    with pytest.raises(ConfigError, match=r"^--audit-log /nonexistent/audit.jsonl: No such file or directory$"):
        AuditSink("/nonexistent/audit.jsonl")


def test_a_caller_is_described_from_proc_and_a_gone_one_as_gone() -> None:
    described: list[tuple[int, Process]] = []
    worker = threading.Thread(
        target=lambda: described.append((threading.get_native_id(), describe(threading.get_native_id())))
    )
    worker.start()
    worker.join()
    ((tid, other_thread),) = described
    assert tid != os.getpid() and other_thread.pid == os.getpid()  # a thread's id is not its process's
    assert other_thread.comm == Path("/proc/self/comm").read_text().strip()  # the process's name, not the thread's
    assert other_thread.exe == os.path.realpath("/proc/self/exe") and other_thread.state == ""
    assert supplementary_groups(os.getpid()) == frozenset(os.getgroups())
    gone = describe(2**22 + 12345)  # above pid_max's default range: no such thread
    assert gone.state == "gone" and gone.comm is None and gone.exe is None
    outside = describe(0)  # what FUSE reports for a caller in a PID namespace kvfs cannot see
    assert outside.pid is None and outside.state == "outside kvfs's PID namespace"
    assert supplementary_groups(0) == frozenset()

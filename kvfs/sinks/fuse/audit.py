"""The audit trail (``--audit-log``): one JSON line per open of a file, who opened it and whether it could.

Off the hot path. An open that starts a line reads /proc about its caller (the caller is still
there, blocked in ``open``) and appends the line to a bounded queue; a task hands the queue to one
writer thread, batch by batch, so a slow disk or a full pipe never blocks a read. When the queue
is full the open is counted as dropped, and the next batch says how many were. Repeated opens of
one file by one thread (same uid and gid) within ``coalesce`` seconds add to the first one's count,
written when the window closes (or at unmount): a reader polling its file is one line per window.

Every open is accounted for: in a written line, in a line not written yet, or dropped.
Lines name files, objects, versions and callers: never content.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import trio

from ...config import ObjectSpec
from ...errors import ConfigError
from .callers import Process, describe
from .store import Node

log = logging.getLogger(__name__)

DEFAULT_COALESCE = 10.0  # seconds
CAPACITY = 10_000  # lines waiting to be written; beyond this, opens are counted as dropped
BATCH = 200  # lines per write: serialising them holds up the FUSE loop for well under a millisecond
FLUSH_AT_EXIT = 2.0  # seconds the last lines may take to write at unmount


class AuditSink:
    """Where the lines go: a file kvfs creates 0600 (appended to if it exists), a FIFO, or stdout (``-``)."""

    def __init__(self, target: str) -> None:
        self.target = target
        if target == "-":
            self.fd, self._owned = 1, False
            return
        try:
            self.fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise ConfigError(f"--audit-log {target}: {exc.strerror}") from None
        self._owned = True
        mode = os.fstat(self.fd).st_mode
        if not (stat.S_ISREG(mode) or stat.S_ISFIFO(mode) or stat.S_ISCHR(mode)):
            os.close(self.fd)
            raise ConfigError(f"--audit-log {target}: not a file, a FIFO or a character device")
        if stat.S_ISREG(mode) and mode & 0o077:
            log.warning(
                "--audit-log %s: other users may read it (mode %04o); kvfs creates it 0600", target, mode & 0o777
            )

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view) :]

    def close(self) -> None:
        if self._owned:
            os.close(self.fd)


class _Writer:
    """The one thread that writes to the sink, a batch at a time; it closes the sink when told to stop
    (after the batch it is writing, so no other thread ever touches the descriptor)."""

    def __init__(self, sink: AuditSink) -> None:
        self.sink = sink
        self._ready = threading.Condition()
        self._batch: bytes | None = None
        self._busy = False
        self._stopping = False
        self._error: OSError | None = None
        self._thread = threading.Thread(target=self._loop, name="kvfs-audit-writer", daemon=True)
        self._thread.start()

    def submit(self, data: bytes) -> None:
        with self._ready:
            assert not self._busy, "one batch at a time"
            self._batch, self._busy, self._error = data, True, None
            self._ready.notify_all()

    def wait(self, timeout: float | None = None) -> tuple[bool, OSError | None]:
        """(whether the batch is done, its error): blocks a worker thread, never the FUSE loop."""
        with self._ready:
            done = self._ready.wait_for(lambda: not self._busy, timeout)
            return done, self._error

    def stop(self) -> None:
        with self._ready:
            self._stopping = True
            self._ready.notify_all()

    def _loop(self) -> None:
        while True:
            with self._ready:
                self._ready.wait_for(lambda: self._batch is not None or self._stopping)
                data, self._batch = self._batch, None
            if data is None:
                break
            error = None
            try:
                self.sink.write(data)
            except OSError as exc:
                error = exc
            with self._ready:
                self._busy, self._error = False, error
                self._ready.notify_all()
        self.sink.close()


@dataclass
class _Event:
    """One open, or a window of opens of one file by one thread."""

    key: tuple[int, int, int, int, bool]  # (thread, uid, gid, inode, allowed): what coalesced opens share
    first: float  # wall-clock time of the first open
    due: float  # trio time the window closes
    path: str
    spec: ObjectSpec | None
    version: str
    process: Process
    count: int = 1
    last: float = 0.0

    def as_json(self) -> dict[str, object]:
        spec = self.spec
        _, uid, gid, _, allowed = self.key
        event: dict[str, object] = {
            "time": _iso(self.first),
            "event": "open",
            "path": self.path,
            "alias": spec.alias if spec else None,
            "object": spec.name if spec else None,
            "kind": spec.type if spec else None,
            "version": self.version or None,
            "uid": uid,
            "gid": gid,
            "pid": self.process.pid,
            "comm": self.process.comm,
            "exe": self.process.exe,
            "allowed": allowed,
            "count": self.count,
        }
        if self.process.state:
            event["process"] = self.process.state
        if self.count > 1:
            event["last"] = _iso(self.last)
        return event


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class AuditStats:
    events: int = 0  # open lines written
    opens_written: int = 0  # opens in written lines (their counts)
    opens_coalesced: int = 0  # opens counted into a line after its first
    dropped: int = 0  # opens in no line: the queue was full, the sink failed, or it was stalled at unmount
    write_failures: int = 0


@dataclass
class AuditTrail:
    sink: AuditSink
    coalesce: float = DEFAULT_COALESCE
    capacity: int = CAPACITY
    describe: Callable[[int], Process] = describe
    stats: AuditStats = field(default_factory=AuditStats)

    def __post_init__(self) -> None:
        self._queue: deque[_Event] = deque()
        self._windows: dict[tuple[int, int, int, int, bool], _Event] = {}  # each key's latest line, while it may grow
        self._wake = trio.Event()
        self._unreported_drops = 0
        self._drop_times = (0.0, 0.0)  # the first and last of the unreported drops
        self._in_flight: list[_Event] = []  # the lines the writer thread has
        self._writer: _Writer | None = None

    @property
    def pending(self) -> int:
        """Open lines not written yet: waiting for their window to close, or being written."""
        return len(self._queue) + len(self._in_flight)

    @property
    def opens_pending(self) -> int:
        return sum(e.count for e in self._queue) + sum(e.count for e in self._in_flight)

    # -- the hot path: the FUSE open handler -----------------------------------------------------------

    def record(self, node: Node, path_of: Callable[[Node], str], uid: int, gid: int, tid: int, allowed: bool) -> None:
        """An open of ``node`` (``path_of`` names it, only if it starts a line) by thread ``tid``."""
        now = trio.current_time()
        key = (tid, uid, gid, node.inode, allowed)
        window = self._windows.get(key)
        if window is not None and now < window.due:
            window.count += 1
            window.last = time.time()
            self.stats.opens_coalesced += 1
            return
        if len(self._queue) >= self.capacity:
            self.stats.dropped += 1
            self._unreported_drops += 1
            self._drop_times = (self._drop_times[0] or time.time(), time.time())
            return
        process = self.describe(tid)
        event = _Event(key, time.time(), now + self.coalesce, path_of(node), node.spec, node.version, process)
        self._queue.append(event)
        self._windows[key] = event
        self._wake.set()

    # -- the writer task -------------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        self._writer = _Writer(self.sink)
        task_status.started()
        try:
            while True:
                if not self._queue:
                    self._wake = trio.Event()
                    await self._wake.wait()
                    continue
                await trio.sleep_until(self._queue[0].due)  # later lines are due later: FIFO order is due order
                await self._write(self._take(due_by=trio.current_time()))
        finally:
            await self._flush_at_exit()

    async def _flush_at_exit(self) -> None:
        """Finish the batch in flight, then write every line still open, within ``FLUSH_AT_EXIT``."""
        assert self._writer is not None
        with trio.move_on_after(FLUSH_AT_EXIT) as late:
            late.shield = True
            if self._in_flight:
                await self._finish_batch()
            while self._queue or self._unreported_drops:
                await self._write(self._take(due_by=float("inf")))
        if late.cancelled_caught:
            lost = self.opens_pending  # a stuck batch may still be written later; kvfs can no longer tell
            self.stats.dropped += lost
            self._queue.clear()
            self._in_flight = []
            log.warning("audit: %d opens not written at exit: %s takes no more", lost, self.sink.target)
        self._writer.stop()
        log.info(
            "audit: %d lines written for %d opens, %d opens dropped",
            self.stats.events,
            self.stats.opens_written,
            self.stats.dropped,
        )

    def _take(self, due_by: float) -> list[_Event]:
        """The next batch of lines whose windows have closed by ``due_by``."""
        batch: list[_Event] = []
        while self._queue and self._queue[0].due <= due_by and len(batch) < BATCH:
            event = self._queue.popleft()
            if self._windows.get(event.key) is event:
                del self._windows[event.key]  # a later open starts a new window
            batch.append(event)
        return batch

    async def _write(self, batch: list[_Event]) -> None:
        assert self._writer is not None
        lines = [event.as_json() for event in batch]
        if self._unreported_drops:  # placed after the lines that were queued before the queue filled up
            first, last = self._drop_times
            lines.append({"time": _iso(first), "event": "dropped", "count": self._unreported_drops, "last": _iso(last)})
            self._unreported_drops, self._drop_times = 0, (0.0, 0.0)
        if not lines:
            return
        self._in_flight = batch
        self._writer.submit("".join(json.dumps(line, separators=(",", ":")) + "\n" for line in lines).encode())
        await self._finish_batch()

    async def _finish_batch(self) -> None:
        """Wait for the writer thread (an abandoned wait leaves the batch in flight, for the exit flush)."""
        assert self._writer is not None
        done = False
        error: OSError | None = None
        while not done:
            done, error = await trio.to_thread.run_sync(self._writer.wait, 1.0, abandon_on_cancel=True)
        batch, self._in_flight = self._in_flight, []
        opens = sum(event.count for event in batch)
        if error is None:
            self.stats.events += len(batch)
            self.stats.opens_written += opens
            return
        self.stats.write_failures += 1
        self.stats.dropped += opens
        self.stats.opens_coalesced -= opens - len(batch)  # dropped now, so no longer counted into a line
        if self.stats.write_failures == 1:
            log.warning("audit: cannot write to %s (%s): opens count as dropped", self.sink.target, error.strerror)

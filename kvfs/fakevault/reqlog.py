"""The request log behind ``GET /_fake/requests``: method, path (with query) and status, in arrival order."""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

#: Oldest entries are dropped beyond this, so a long benchmark cannot grow the log without bound.
MAX_ENTRIES = 100_000


class RequestLog:
    """Thread-safe. An entry is added when a request arrives; its status is filled in when answered.

    Keeps the latest ``MAX_ENTRIES`` entries.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: deque[dict[str, Any]] = deque(maxlen=MAX_ENTRIES)

    def arrived(self, method: str, path: str) -> dict[str, Any]:
        entry: dict[str, Any] = {"method": method, "path": path, "status": None}
        with self._lock:
            self._entries.append(entry)
        return entry

    def answered(self, entry: dict[str, Any], status: int) -> None:
        with self._lock:
            entry["status"] = status

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(e) for e in self._entries]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

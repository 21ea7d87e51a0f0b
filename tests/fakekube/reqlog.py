"""The request log: what each request asked for and what it got, in arrival order.

Entries hold no token and no body, so tests can print them freely.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

#: Oldest entries are dropped beyond this.
MAX_ENTRIES = 100_000


class RequestLog:
    """Thread-safe. An entry is added on arrival; user and status are filled in before the answer is sent."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: deque[dict[str, Any]] = deque(maxlen=MAX_ENTRIES)

    def arrived(self, method: str, path: str, query: dict[str, str], content_type: str | None) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "method": method,
            "path": path,
            "query": dict(query),
            "content_type": content_type,
            "user": None,
            "status": None,
            "field_manager": query.get("fieldManager"),
            "force": query.get("force", "").lower() == "true",
        }
        with self._lock:
            self._entries.append(entry)
        return entry

    def update(self, entry: dict[str, Any], **values: Any) -> None:
        with self._lock:
            entry.update(values)

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return [{**e, "query": dict(e["query"])} for e in self._entries]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

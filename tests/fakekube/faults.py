"""Injected failures: an error status on matching paths, for a number of requests or a time window.

A fault answers a request before authentication, with the ``Status`` body the real server (or its
priority-and-fairness filter) sends for that code. The first active fault whose ``path`` regex is found
in the request path (query included) answers; only that fault uses up its ``count``.
"""

from __future__ import annotations

import itertools
import re
import threading
import time
from dataclasses import dataclass
from typing import Any

from .errors import KubeError

#: code -> (reason, message), as the API server words them.
_STATUS: dict[int, tuple[str, str]] = {
    400: ("BadRequest", "the server rejected our request for an unknown reason"),
    401: ("Unauthorized", "Unauthorized"),
    403: ("Forbidden", "forbidden: the request is denied (fault injected)"),
    404: ("NotFound", "the server could not find the requested resource"),
    409: ("Conflict", "the server reported a conflict"),
    410: ("Expired", "The resourceVersion for the provided watch is too old."),
    422: ("Invalid", "the server rejected our request due to an error in our request"),
    429: ("TooManyRequests", "Too many requests, please try again later."),
    500: ("InternalError", "Internal error occurred: fault injected by the fake Kubernetes API"),
    503: ("ServiceUnavailable", "the server is currently unable to handle the request"),
    504: (
        "Timeout",
        "the server was unable to return a response in the time allotted, but may still be processing the request",
    ),
}


@dataclass
class Fault:
    id: int
    status: int
    count: int | None  # uses left; None = unlimited
    expires: float | None  # time.monotonic() deadline
    path: re.Pattern[str] | None

    def active(self, now: float) -> bool:
        return (self.count is None or self.count > 0) and (self.expires is None or now < self.expires)

    def error(self) -> KubeError:
        reason, message = _STATUS.get(
            self.status, ("", f"fault injected by the fake Kubernetes API (HTTP {self.status})")
        )
        details: dict[str, Any] | None = None
        if self.status == 500:
            details = {"causes": [{"message": "fault injected by the fake Kubernetes API"}]}
        elif self.status == 429:
            details = {"retryAfterSeconds": 1}
        err = KubeError(self.status, reason, message, details)
        if self.status == 429:
            err.headers["Retry-After"] = "1"
        return err


class FaultSet:
    """The active faults of one fake. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)

    def add(self, status: int, count: int | None, path: str | None, seconds: float | None) -> int:
        if not isinstance(status, int) or not 400 <= status <= 599:
            raise ValueError(f"a fault status must be an HTTP error code 400-599, not {status!r}")
        if count is not None and count < 1:
            raise ValueError("a fault count must be at least 1")
        if seconds is not None and seconds <= 0:
            raise ValueError("a fault window must be longer than 0 seconds")
        fault = Fault(
            id=next(self._ids),
            status=status,
            count=count,
            expires=time.monotonic() + seconds if seconds is not None else None,
            path=re.compile(path) if path is not None else None,
        )
        with self._lock:
            self._faults.append(fault)
        return fault.id

    def remove(self, fault_id: int) -> None:
        with self._lock:
            self._faults = [f for f in self._faults if f.id != fault_id]

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, path: str) -> KubeError | None:
        """The error that answers this request, if a fault matches (using up one of its count)."""
        now = time.monotonic()
        with self._lock:
            self._faults = [f for f in self._faults if f.active(now)]
            for fault in self._faults:
                if fault.path is None or fault.path.search(path):
                    if fault.count is not None:
                        fault.count -= 1
                    return fault.error()
        return None

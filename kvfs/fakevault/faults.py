"""Injected faults: throttling, outages and latency on chosen paths, for a count or a time window.

A fault matches a request when it is still active (its ``count`` not used up, its ``seconds`` window not
over) and its ``path`` regex, if any, is found in the request path (query string included). For each
request the first matching fault with a ``status`` answers it; the latency of that fault and of every
matching latency-only fault is added before the answer. Only faults that acted on a request use up
their ``count``.
"""

from __future__ import annotations

import itertools
import re
import threading
import time
from dataclasses import dataclass
from typing import Any

_FIELDS = ("status", "retry_after", "latency_ms", "count", "seconds", "path")
#: Statuses that must never carry Retry-After: azure-core would retry a permanent error.
_NO_RETRY_AFTER = (401, 403, 404)


@dataclass
class Fault:
    id: int
    status: int | None
    retry_after: float | None
    latency_ms: float
    count: int | None  # remaining uses; None = unlimited
    expires: float | None  # time.monotonic() deadline; None = no deadline
    path: re.Pattern[str] | None
    spec: dict[str, Any]  # as given, for listing

    def active(self, now: float) -> bool:
        return (self.count is None or self.count > 0) and (self.expires is None or now < self.expires)

    def matches(self, path: str) -> bool:
        return self.path is None or self.path.search(path) is not None

    def describe(self, now: float) -> dict[str, Any]:
        out = {"id": self.id, **self.spec}
        if self.count is not None:
            out["remaining"] = self.count
        if self.expires is not None:
            out["expires_in"] = round(max(0.0, self.expires - now), 3)
        return out


def _number(spec: dict[str, Any], key: str, *, integer: bool = False, minimum: float = 0) -> Any:
    value = spec.get(key)
    if value is None:
        return None
    kinds = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or value < minimum:
        what = "an integer" if integer else "a number"
        raise ValueError(f"fault field {key!r} must be {what} >= {minimum}, not {value!r}")
    return value


def validate(spec: Any) -> dict[str, Any]:
    """Check a fault description (the JSON of ``POST /_fake/faults``); raises ValueError saying what is wrong."""
    if not isinstance(spec, dict):
        raise ValueError("a fault must be a JSON object")  # noqa: TRY004 (documented as ValueError)
    unknown = sorted(set(spec) - set(_FIELDS))
    if unknown:
        raise ValueError(f"unknown fault field(s) {', '.join(unknown)}; allowed: {', '.join(_FIELDS)}")
    clean = {k: spec[k] for k in _FIELDS if spec.get(k) is not None}
    status = _number(clean, "status", integer=True, minimum=400)
    if status is not None and status > 599:
        raise ValueError(f"fault field 'status' must be an error status 400-599, not {status}")
    retry_after = _number(clean, "retry_after")
    _number(clean, "latency_ms")
    _number(clean, "count", integer=True, minimum=1)
    seconds = _number(clean, "seconds")
    if seconds is not None and seconds <= 0:
        raise ValueError("fault field 'seconds' must be > 0")
    if status is None and not clean.get("latency_ms"):
        raise ValueError("a fault needs a 'status', a 'latency_ms', or both")
    if retry_after is not None and status is None:
        raise ValueError("'retry_after' needs a 'status'")
    if retry_after is not None and status in _NO_RETRY_AFTER:
        raise ValueError(f"Retry-After on a {status} would make clients retry a permanent error; leave it out")
    if "path" in clean:
        if not isinstance(clean["path"], str):
            raise ValueError("fault field 'path' must be a regular expression string")
        try:
            re.compile(clean["path"])
        except re.error as exc:
            raise ValueError(f"fault field 'path' is not a valid regular expression: {exc}") from exc
    return clean


class FaultSet:
    """The active faults of one server. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)

    def add(self, spec: Any) -> dict[str, Any]:
        """Validate and add a fault; returns its description including its ``id``."""
        clean = validate(spec)
        now = time.monotonic()
        fault = Fault(
            id=next(self._ids),
            status=clean.get("status"),
            retry_after=clean.get("retry_after"),
            latency_ms=float(clean.get("latency_ms") or 0),
            count=clean.get("count"),
            expires=now + clean["seconds"] if "seconds" in clean else None,
            path=re.compile(clean["path"]) if "path" in clean else None,
            spec=clean,
        )
        with self._lock:
            self._faults.append(fault)
        return fault.describe(now)

    def remove(self, fault_id: int) -> bool:
        with self._lock:
            before = len(self._faults)
            self._faults = [f for f in self._faults if f.id != fault_id]
            return len(self._faults) != before

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def list(self) -> list[dict[str, Any]]:
        now = time.monotonic()
        with self._lock:
            self._faults = [f for f in self._faults if f.active(now)]
            return [f.describe(now) for f in self._faults]

    def take(self, path: str) -> tuple[float, Fault | None]:
        """For one request: ``(latency seconds, the fault that answers it or None)``, using up counts."""
        now = time.monotonic()
        latency_ms = 0.0
        answering: Fault | None = None
        with self._lock:
            for fault in self._faults:
                if not fault.active(now) or not fault.matches(path):
                    continue
                if fault.status is None:
                    latency_ms += fault.latency_ms
                elif answering is None:
                    answering = fault
                    latency_ms += fault.latency_ms
                else:
                    continue
                if fault.count is not None:
                    fault.count -= 1
            self._faults = [f for f in self._faults if f.active(now)]
        return latency_ms / 1000.0, answering

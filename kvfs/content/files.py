"""What rendering produces and every sink consumes: one file's path, bytes, mode and version."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class FileContent:
    """One file as the renderer produced it. ``path`` is relative, '/'-separated."""

    path: str
    data: bytes = field(repr=False)
    permission: int
    mtime_ns: int
    version: str = ""

"""What rendering produces and every sink consumes: files, and change sets of them."""

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


@dataclass(frozen=True)
class ChangeSet:
    """Every file now served, and which objects changed to get there."""

    generation: int  # 1 for the initial load, then one more per swap
    files: tuple[FileContent, ...] = field(repr=False)
    changed: tuple[str, ...] = ()  # aliases of the objects with new versions; empty for the initial load

    @property
    def initial(self) -> bool:
        return self.generation == 1

    def by_path(self) -> dict[str, FileContent]:
        return {f.path: f for f in self.files}

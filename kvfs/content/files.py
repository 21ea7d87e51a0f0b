"""What rendering produces and every sink consumes: files, and change sets of them."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..config import ObjectSpec


@dataclass(frozen=True)
class LazyRef:
    """Content fetched on first open (a pattern's matches, the whole-vault mount): the object, the version
    the listing showed (its ``updated`` time: a new one is new content), and which of its files this is."""

    spec: ObjectSpec
    updated_ns: int
    path: str

    @property
    def key(self) -> tuple[tuple[int, str], int]:
        return (self.spec.key, self.updated_ns)


@dataclass(frozen=True)
class FileContent:
    """One file as the renderer produced it (``path`` relative, '/'-separated), or, with ``lazy``, a file
    listed but not fetched yet (``data`` empty until an open fetches it)."""

    path: str
    data: bytes = field(repr=False)
    permission: int
    mtime_ns: int
    version: str = ""
    lazy: LazyRef | None = None
    # The object this file serves: who may open it, and what an audit event names.
    spec: ObjectSpec | None = field(default=None, compare=False, repr=False)


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

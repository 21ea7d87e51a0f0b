"""Which object serves which path of the mount, so that no two serve one file and no file stands
where another object needs a folder (``conf`` beside ``conf/db.txt``).

The provider lets a later object silently overwrite an earlier one's file; kvfs refuses, at start
(from the class) and again when the loaded content adds files (``.crt``/``.key``).
"""

from __future__ import annotations

from typing import Generic, TypeVar

from .messages import quote

Owner = TypeVar("Owner")


class PathClaims(Generic[Owner]):
    """Paths claimed so far: files (or whole folders owned by one object) and the folders above them."""

    def __init__(self) -> None:
        self._leaves: dict[str, tuple[Owner, bool]] = {}  # path → (owner, is a folder the owner fills alone)
        self._folders: dict[str, Owner] = {}  # folder path → the first owner with something inside it

    def claim(self, path: str, owner: Owner, *, whole_folder: bool = False) -> tuple[str, Owner] | None:
        """Record that ``owner`` serves ``path``. On a clash, nothing is recorded and the answer is
        why, to be followed by the other owner's name: ``("file name "x" is also used by", other)``."""
        if path in self._leaves:
            return f"file name {quote(path)} is also used by", self._leaves[path][0]
        if path in self._folders:
            return f"file name {quote(path)} is already a folder, holding a file of", self._folders[path]
        parts = path.split("/")
        folders = ["/".join(parts[:depth]) for depth in range(1, len(parts))]
        for folder in folders:
            if folder in self._leaves:
                other, is_folder = self._leaves[folder]
                what = "the version-history folder of" if is_folder else "a file of"
                return f"{quote(path)} needs a folder {quote(folder)}, which is {what}", other
        self._leaves[path] = (owner, whole_folder)
        for folder in folders:
            self._folders.setdefault(folder, owner)
        return None

    def claim_all(self, paths: list[str], owner: Owner) -> tuple[str, Owner] | None:
        """``claim`` every path of one owner, or none of them when one clashes."""
        saved = dict(self._leaves), dict(self._folders)
        for path in paths:
            clash = self.claim(path, owner)
            if clash is not None:
                self._leaves, self._folders = saved
                return clash
        return None

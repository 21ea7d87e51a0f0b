"""Fetch every configured object concurrently (bounded) and turn it into file contents."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import trio

from ..config import ObjectSpec
from ..config.paths import PathClaims
from ..content.files import FileContent
from ..content.material import Material, VersionInfo
from ..content.render import render
from ..errors import ConfigError, KvfsError, ObjectNotFound
from ..vault.backend import VaultBackend

log = logging.getLogger(__name__)
_EPOCH = datetime.fromtimestamp(0, UTC)


@dataclass
class Loaded:
    """The outcome of loading a set of objects: what was fetched and what failed (optional objects that
    are missing appear in neither)."""

    materials: dict[int, list[Material]] = field(default_factory=dict)  # by ObjectSpec.index, newest first
    files: dict[int, list[FileContent]] = field(default_factory=dict)
    failures: dict[int, KvfsError] = field(default_factory=dict)

    def all_files(self) -> list[FileContent]:
        return [f for index in sorted(self.files) for f in self.files[index]]


def select_history(spec: ObjectSpec, versions: list[VersionInfo]) -> list[str]:
    """The version ids of a history folder: enabled ones, newest first by creation time, starting at
    the pinned version (if any), exactly ``version_history`` of them (the provider writes one more)."""
    # Creation times have one-second resolution: among equal times, a later place in the listing
    # (which runs oldest first) is the newer version.
    ranked = sorted(
        ((v.created or _EPOCH, position, v) for position, v in enumerate(versions) if v.enabled),
        key=lambda entry: entry[:2],
        reverse=True,
    )
    ids = [v.version for _, _, v in ranked]
    if spec.version:
        if spec.version not in ids:
            raise ObjectNotFound(
                f"{spec.type} {spec.name!r} version {spec.version} is not among its enabled versions",
                object_name=spec.name,
            )
        ids = ids[ids.index(spec.version) :]
    return ids[: spec.version_history]


async def fetch_object(backend: VaultBackend, spec: ObjectSpec) -> list[Material]:
    """The versions an object is served from: one, or the history folder's, newest first."""
    if not spec.version_history:
        return [await backend.fetch(spec)]
    chosen = select_history(spec, await backend.versions(spec))
    materials: list[Material | None] = [None] * len(chosen)
    failures: list[KvfsError] = []

    async def fetch_one(position: int, version: str) -> None:
        try:
            materials[position] = await backend.fetch(spec, version)
        except KvfsError as exc:  # collected, so one plain error (not a group) reaches the caller
            failures.append(exc)

    async with trio.open_nursery() as nursery:
        for position, version in enumerate(chosen):
            nursery.start_soon(fetch_one, position, version)
    if failures:
        raise failures[0]
    return [m for m in materials if m is not None]


def _mtime_ns(material: Material) -> int:
    updated = material.info.updated or material.info.created
    return int(updated.timestamp() * 1_000_000_000) if updated else time.time_ns()


def files_for(spec: ObjectSpec, materials: list[Material], *, split: bool = False) -> list[FileContent]:
    """The files an object's versions become: ``alias`` (+ ``.crt``/``.key``), or ``alias/0..N-1``."""
    files = []
    for position, material in enumerate(materials):
        base = f"{spec.alias}/{position}" if spec.version_history else spec.alias
        for suffix, data in render(spec, material, split=split):
            files.append(FileContent(base + suffix, data, spec.permission, _mtime_ns(material), material.info.version))
    return files


async def load_all(
    backend: VaultBackend, specs: tuple[ObjectSpec, ...] | list[ObjectSpec], *, split: bool = False
) -> Loaded:
    """Fetch and render every object; concurrency is bounded by the backend's limiter."""
    loaded = Loaded()

    async def load_one(spec: ObjectSpec) -> None:
        started = time.monotonic()
        try:
            materials = await fetch_object(backend, spec)
            loaded.files[spec.index] = files_for(spec, materials, split=split)
            loaded.materials[spec.index] = materials
            log.debug(
                "%s: version %s loaded",
                spec.describe(),
                materials[0].info.version,
                extra={
                    "object": spec.name,
                    "version": materials[0].info.version,
                    "duration": round(time.monotonic() - started, 3),
                },
            )
        except ObjectNotFound as exc:
            if spec.optional:
                log.warning("%s: optional object not found; its file will be absent", spec.describe())
            else:
                loaded.failures[spec.index] = exc
        except KvfsError as exc:
            loaded.failures[spec.index] = exc

    # One object per kind first: each client's first request meets the vault's 401 challenge and
    # asks the credential for a token. Sent all at once, every worker would fetch its own token.
    first_of_kind = list({spec.type: spec for spec in reversed(specs)}.values())
    for batch in (first_of_kind, [spec for spec in specs if spec not in first_of_kind]):
        async with trio.open_nursery() as nursery:
            for spec in batch:
                nursery.start_soon(load_one, spec)
    _refuse_collisions(specs, loaded)
    return loaded


def _refuse_collisions(specs: tuple[ObjectSpec, ...] | list[ObjectSpec], loaded: Loaded) -> None:
    """Two objects may not serve the same path, nor a file where the other needs a folder (the
    class was checked at start; the ``.crt``/``.key`` files that loading adds are checked here)."""
    claims: PathClaims[ObjectSpec] = PathClaims()
    for spec in specs:
        clash = claims.claim_all([content.path for content in loaded.files.get(spec.index, [])], spec)
        if clash is not None:
            loaded.failures[spec.index] = ConfigError(
                f"{spec.describe()}: {clash[0]} {clash[1].describe()}; change one objectAlias"
            )
            del loaded.files[spec.index]

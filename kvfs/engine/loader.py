"""Fetch every configured object concurrently (bounded) and turn it into file contents."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import trio

from ..config import ObjectSpec
from ..config.paths import PathClaims
from ..content.files import FileContent, LazyRef
from ..content.material import Material, VersionInfo
from ..content.render import render
from ..errors import AccessDenied, ConfigError, KvfsError, ObjectNotFound
from ..vault.backend import VaultBackend
from .patience import StartPatience

log = logging.getLogger(__name__)
_EPOCH = datetime.fromtimestamp(0, UTC)


Key = tuple[int, str]  # ObjectSpec.key


@dataclass
class Loaded:
    """The outcome of loading a set of objects: what was fetched and what failed (optional objects that
    are missing appear in neither), by ``ObjectSpec.key``. ``specs`` holds every object served, a
    pattern's matches included; ``listed`` the listing entry of each match served lazily."""

    specs: dict[Key, ObjectSpec] = field(default_factory=dict)
    materials: dict[Key, list[Material]] = field(default_factory=dict)  # newest first
    files: dict[Key, list[FileContent]] = field(default_factory=dict)
    failures: dict[Key, KvfsError] = field(default_factory=dict)
    listed: dict[Key, VersionInfo] = field(default_factory=dict)
    unlisted: set[str] = field(default_factory=set)  # kinds optional patterns could not list (forbidden)

    def all_files(self) -> list[FileContent]:
        return [f for key in sorted(self.files) for f in self.files[key]]


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


async def fetch_object(backend: VaultBackend, spec: ObjectSpec, *, retry: bool = True) -> list[Material]:
    """The versions an object is served from: one, or the history folder's, newest first."""
    if not spec.version_history:
        return [await backend.fetch(spec, retry=retry)]
    chosen = select_history(spec, await backend.versions(spec, retry=retry))
    materials: list[Material | None] = [None] * len(chosen)
    failures: list[KvfsError] = []

    async def fetch_one(position: int, version: str) -> None:
        try:
            materials[position] = await backend.fetch(spec, version, retry=retry)
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


def lazy_files_for(spec: ObjectSpec, listed: VersionInfo) -> list[FileContent]:
    """The files of a match served lazily: listed with the listing's time, fetched on first open."""
    updated = listed.updated or listed.created
    mtime_ns = int(updated.timestamp() * 1_000_000_000) if updated else time.time_ns()
    paths = spec.file_names()
    return [
        FileContent(path, b"", spec.permission, mtime_ns, lazy=LazyRef(spec, mtime_ns, path), spec=spec)
        for path in paths
    ]


def matches(pattern: ObjectSpec, listing: dict[str, VersionInfo]) -> list[tuple[ObjectSpec, VersionInfo]]:
    """Every enabled listed object a pattern matches, expanded, in name order."""
    found = [
        (pattern.expand(info.name), info) for info in listing.values() if info.enabled and pattern.matches(info.name)
    ]
    return sorted(found, key=lambda pair: pair[0].name)


def files_for(spec: ObjectSpec, materials: list[Material], *, split: bool = False) -> list[FileContent]:
    """The files an object's versions become: ``alias`` (+ ``.crt``/``.key``), or ``alias/0..N-1``."""
    files = []
    for position, material in enumerate(materials):
        base = f"{spec.alias}/{position}" if spec.version_history else spec.alias
        for suffix, data in render(spec, material, split=split):
            files.append(
                FileContent(base + suffix, data, spec.permission, _mtime_ns(material), material.info.version, spec=spec)
            )
    return files


async def load_all(
    backend: VaultBackend,
    specs: tuple[ObjectSpec, ...] | list[ObjectSpec],
    *,
    split: bool = False,
    lazy_patterns: bool = False,
    start_timeout: float = 0.0,
) -> Loaded:
    """Fetch and render every object; concurrency is bounded by the backend's limiter. A pattern lists its
    kind once and stands for every match: fetched like the others, or with ``lazy_patterns`` only listed
    (content on first open, the FUSE mount's choice). With ``start_timeout``, transient failures
    (429, 5xx, timeouts) are retried until it passes (``StartPatience``)."""
    loaded = Loaded()
    patience = StartPatience(start_timeout)

    async def load_one(spec: ObjectSpec) -> None:
        started = time.monotonic()
        try:
            materials = await patience.call(lambda sdk_retries: fetch_object(backend, spec, retry=sdk_retries))
            loaded.files[spec.key] = files_for(spec, materials, split=split)
            loaded.materials[spec.key] = materials
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
                loaded.failures[spec.key] = exc
        except KvfsError as exc:
            loaded.failures[spec.key] = exc

    named = [spec for spec in specs if not spec.is_pattern]
    patterns = [spec for spec in specs if spec.is_pattern]
    expanded = await _expand_patterns(backend, patterns, loaded, lazy=lazy_patterns, patience=patience)
    for spec in (*named, *expanded):
        loaded.specs[spec.key] = spec
    to_fetch = [*named, *(spec for spec in expanded if spec.key not in loaded.listed)]
    # One object per kind first: each client's first request meets the vault's 401 challenge and
    # asks the credential for a token. Sent all at once, every worker would fetch its own token.
    first_of_kind = list({spec.type: spec for spec in reversed(to_fetch)}.values())
    for batch in (first_of_kind, [spec for spec in to_fetch if spec not in first_of_kind]):
        async with trio.open_nursery() as nursery:
            for spec in batch:
                nursery.start_soon(load_one, spec)
    _refuse_collisions(list(loaded.specs.values()), loaded)
    if patience.retries:
        log.info("starting: loaded after %s", patience.summary())
    return loaded


async def _expand_patterns(
    backend: VaultBackend, patterns: list[ObjectSpec], loaded: Loaded, *, lazy: bool, patience: StartPatience
) -> list[ObjectSpec]:
    """Each pattern's matches (one listing per kind); lazily served ones get their placeholder files now."""
    listings: dict[str, dict[str, VersionInfo]] = {}
    for kind in sorted({p.type for p in patterns}):
        try:
            listings[kind], _calls = await patience.call(
                lambda sdk_retries, kind=kind: backend.list_current(kind, retry=sdk_retries)
            )
        except AccessDenied as exc:
            if all(p.optional for p in patterns if p.type == kind):  # the whole vault: serve what may be listed
                log.warning("%s; no %s is served (restart kvfs once the identity may list them)", exc, kind)
                loaded.unlisted.add(kind)
                continue
            _fail_kind(patterns, kind, exc, loaded)
        except KvfsError as exc:
            _fail_kind(patterns, kind, exc, loaded)
    expanded: list[ObjectSpec] = []
    for pattern in patterns:
        found = matches(pattern, listings.get(pattern.type, {}))
        if not found and pattern.key not in loaded.failures:
            log.info("%s: no %s matches (yet)", pattern.describe(), pattern.type)
        for spec, info in found:
            expanded.append(spec)
            if lazy:
                loaded.files[spec.key] = lazy_files_for(spec, info)
                loaded.listed[spec.key] = info
    return expanded


def _fail_kind(patterns: list[ObjectSpec], kind: str, error: KvfsError, loaded: Loaded) -> None:
    for pattern in patterns:
        if pattern.type == kind:
            loaded.failures[pattern.key] = error


def _refuse_collisions(specs: list[ObjectSpec], loaded: Loaded) -> None:
    """Two objects may not serve the same path, nor a file where the other needs a folder (the
    class was checked at start; the ``.crt``/``.key`` files that loading adds, and a pattern's
    matches, are checked here). A named object's clash is an error; a match's is skipped, with a warning."""
    claims: PathClaims[ObjectSpec] = PathClaims()
    for spec in sorted(specs, key=lambda s: (bool(s.name_pattern), s.key)):  # named objects claim first
        clash = claims.claim_all([content.path for content in loaded.files.get(spec.key, [])], spec)
        if clash is None:
            continue
        loaded.files.pop(spec.key, None)
        loaded.listed.pop(spec.key, None)
        if spec.name_pattern:
            log.warning("%s: %s %s; this match is not served", spec.describe(), clash[0], clash[1].describe())
            loaded.specs.pop(spec.key, None)
        else:
            loaded.failures[spec.key] = ConfigError(
                f"{spec.describe()}: {clash[0]} {clash[1].describe()}; change one objectAlias"
            )

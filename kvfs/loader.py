"""Fetch every configured object concurrently (bounded) and turn it into file contents."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import trio

from .backend import VaultBackend
from .config import ObjectSpec
from .errors import KvfsError, ObjectNotFound, RenderError
from .material import Material
from .render import render
from .store import FileContent

log = logging.getLogger(__name__)


@dataclass
class Loaded:
    """The outcome of loading a set of objects: what was fetched, what failed, what was optional and missing."""

    materials: dict[int, Material] = field(default_factory=dict)  # by ObjectSpec.index
    files: dict[int, list[FileContent]] = field(default_factory=dict)
    failures: dict[int, KvfsError] = field(default_factory=dict)
    missing_optional: list[ObjectSpec] = field(default_factory=list)

    def all_files(self) -> list[FileContent]:
        return [f for index in sorted(self.files) for f in self.files[index]]


def files_for(spec: ObjectSpec, material: Material) -> list[FileContent]:
    """The files one object version becomes (one file now; several for split or history objects)."""
    updated = material.info.updated or material.info.created
    mtime_ns = int(updated.timestamp() * 1_000_000_000) if updated else time.time_ns()
    data = render(spec, material)
    return [FileContent(spec.alias, data, spec.permission, mtime_ns, material.info.version)]


async def load_all(backend: VaultBackend, specs: tuple[ObjectSpec, ...] | list[ObjectSpec]) -> Loaded:
    """Fetch and render every object; concurrency is bounded by the backend's limiter."""
    loaded = Loaded()

    async def load_one(spec: ObjectSpec) -> None:
        try:
            material = await backend.fetch(spec)
            loaded.files[spec.index] = files_for(spec, material)
            loaded.materials[spec.index] = material
        except ObjectNotFound as exc:
            if spec.optional:
                log.warning("%s: optional object not found; its file will be absent", spec.describe())
                loaded.missing_optional.append(spec)
            else:
                loaded.failures[spec.index] = exc
        except (KvfsError, RenderError) as exc:
            loaded.failures[spec.index] = exc

    async with trio.open_nursery() as nursery:
        for spec in specs:
            nursery.start_soon(load_one, spec)
    return loaded

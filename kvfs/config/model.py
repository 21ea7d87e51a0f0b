"""What a validated SecretProviderClass is: frozen values, built only by the parser."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field, replace
from typing import Literal

from .clouds import CLOUDS, DEFAULT_CLOUD, Cloud, vault_url

ObjectType = Literal["secret", "key", "cert"]
ObjectFormat = Literal["pem", "pfx"]
ObjectEncoding = Literal["utf-8", "base64", "hex"]


@dataclass(frozen=True)
class ObjectSpec:
    """One entry of ``parameters.objects``: what to fetch and which file to serve it as."""

    index: int  # position in the objects array, for error messages
    name: str  # objectName in the vault
    type: ObjectType
    alias: str  # file path in the mount (objectAlias, default objectName); may hold folders: conf/db.txt
    version: str = ""  # "" means latest ("latest" is normalised to "")
    format: ObjectFormat = "pem"
    encoding: ObjectEncoding = "utf-8"
    permission: int = 0o644
    # 0: a single file; N > 0: a folder <alias>/0..N-1. The provider serves objectVersionHistory 0
    # and 1 alike as a single file, so the parser normalises 1 to 0.
    version_history: int = 0
    optional: bool = False  # kvfs extension: missing at start does not fail the mount
    split: bool = False  # kvfs extension: <alias>.crt and <alias>.key beside the file
    # kvfs extension: objectNamePattern (shell-style, matched without case). A pattern entry has no name
    # of its own; each matching object is served as ``expand(name)``, a spec with that name.
    name_pattern: str = ""
    # The whole-vault mount (``kvfs mount --vault``): more patterns to match (--include), patterns that
    # exclude (--exclude), and each match's folder and extension (secrets/<name>, keys/<name>.pem).
    also_matching: tuple[str, ...] = ()
    excluding: tuple[str, ...] = ()
    alias_prefix: str = ""
    alias_suffix: str = ""
    # kvfs extension: allowedUids / allowedGids. None: the mode bits alone decide; else an open must also
    # come from one of these uids, or from a caller in one of these groups (root too).
    allowed_uids: tuple[int, ...] | None = None
    allowed_gids: tuple[int, ...] | None = None

    @property
    def restricts_readers(self) -> bool:
        return self.allowed_uids is not None or self.allowed_gids is not None

    @property
    def is_pattern(self) -> bool:
        """An entry that stands for every matching object, not an object itself."""
        return bool(self.name_pattern) and not self.name

    @property
    def key(self) -> tuple[int, str]:
        """Identifies the object among all served ones (a pattern's matches share its index); sorts in class order."""
        return (self.index, self.name if self.name_pattern else "")

    def matches(self, object_name: str) -> bool:
        name = object_name.lower()
        return any(fnmatch.fnmatchcase(name, p.lower()) for p in (self.name_pattern, *self.also_matching)) and not any(
            fnmatch.fnmatchcase(name, p.lower()) for p in self.excluding
        )

    def expand(self, object_name: str) -> ObjectSpec:
        """The spec of one object a pattern matches, served under its own name."""
        return replace(self, name=object_name, alias=f"{self.alias_prefix}{object_name}{self.alias_suffix}")

    def describe(self) -> str:
        """How error messages name this object: ``objects[2] (objectName "db-password")``."""
        if self.alias_prefix:  # the whole vault: no class, so no objects[i] to point at
            return f'{self.type} "{self.name}"' if self.name else f"the vault's {self.type}s"
        if self.name_pattern:
            matched = f': "{self.name}"' if self.name else ""
            return f'objects[{self.index}] (objectNamePattern "{self.name_pattern}"{matched})'
        return f'objects[{self.index}] (objectName "{self.name}")'

    def file_names(self) -> tuple[str, ...]:
        """The paths this object occupies in the mount.

        A history object is one folder named by the alias; otherwise the alias, and with ``split``
        also ``<alias>.crt`` and ``<alias>.key``. Collisions between objects are checked on these.
        A pattern occupies no path until it matches.
        """
        if self.is_pattern:
            return ()
        if self.version_history:
            return (self.alias,)
        if self.split:
            return (self.alias, f"{self.alias}.crt", f"{self.alias}.key")
        return (self.alias,)

    def paths(self) -> tuple[str, ...]:
        """Every file path this object serves, relative to the mount (``alias/0`` for history).

        These are the names ``secretObjects[].data[].objectName`` may refer to, as with the
        driver, which looks synced content up by the file paths the provider returned.
        """
        if self.version_history:
            return tuple(f"{self.alias}/{i}" for i in range(self.version_history))
        return self.file_names()


@dataclass(frozen=True)
class SecretObjectData:
    object_name: str  # the alias (file name) whose content fills the key
    key: str


@dataclass(frozen=True)
class SecretObject:
    """One entry of ``spec.secretObjects`` (syncing to Kubernetes comes later)."""

    secret_name: str
    type: str
    data: tuple[SecretObjectData, ...]
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ProviderClass:
    """A validated SecretProviderClass."""

    name: str
    namespace: str
    keyvault_name: str
    tenant_id: str
    cloud: Cloud = field(default_factory=lambda: CLOUDS[DEFAULT_CLOUD.lower()])
    client_id: str = ""
    use_pod_identity: bool = False
    use_vm_managed_identity: bool = False
    user_assigned_identity_id: str = ""
    objects: tuple[ObjectSpec, ...] = ()
    secret_objects: tuple[SecretObject, ...] = ()

    @property
    def cloud_name(self) -> str:
        return self.cloud.name

    @property
    def vault_url(self) -> str:
        """``https://<keyvaultName>.<cloud's vault DNS suffix>/``, as the provider builds it."""
        return vault_url(self.keyvault_name, self.cloud)

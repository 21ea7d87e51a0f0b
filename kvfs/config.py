"""SecretProviderClass → validated ``ProviderClass``, read exactly as the Azure provider reads it.

(The parsing and validation functions are being written; the data model below is the contract.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

ObjectType = Literal["secret", "key", "cert"]
ObjectFormat = Literal["pem", "pfx"]
ObjectEncoding = Literal["utf-8", "base64", "hex"]


@dataclass(frozen=True)
class ObjectSpec:
    """One entry of ``parameters.objects``: what to fetch and which file to serve it as."""

    index: int  # position in the objects array, for error messages
    name: str  # objectName in the vault
    type: ObjectType
    alias: str  # file name (objectAlias, default objectName)
    version: str = ""  # "" means latest ("latest" is normalised to "")
    format: ObjectFormat = "pem"
    encoding: ObjectEncoding = "utf-8"
    permission: int = 0o644
    version_history: int = 0  # 0: a single file; N > 0: a folder <alias>/0..N-1
    optional: bool = False  # kvfs extension: missing at start does not fail the mount
    split: bool = False  # kvfs extension (used later): <alias>.crt and <alias>.key beside the file

    def describe(self) -> str:
        """How error messages name this object: ``objects[2] (name "db-password")``."""
        return f'objects[{self.index}] (objectName "{self.name}")'


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
    cloud_name: str = "AzurePublicCloud"
    client_id: str = ""
    use_pod_identity: bool = False
    use_vm_managed_identity: bool = False
    user_assigned_identity_id: str = ""
    objects: tuple[ObjectSpec, ...] = ()
    secret_objects: tuple[SecretObject, ...] = ()

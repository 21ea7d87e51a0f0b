"""``kvfs mount --vault NAME-or-URL``: a whole vault as a folder, without a class.

Every secret is ``secrets/<name>``, every key ``keys/<name>.pem`` (its public key) and every
certificate ``certificates/<name>.pem`` (its leaf), optionally narrowed by ``--include`` and
``--exclude`` patterns. It is a class of three patterns, so it is served (lazily) and kept current
like any class's patterns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..errors import ConfigError
from .clouds import CLOUDS, DEFAULT_CLOUD
from .model import ObjectSpec, ObjectType, ProviderClass

_VAULT_NAME = re.compile(r"[A-Za-z][-A-Za-z0-9]{1,22}[A-Za-z0-9]")  # Key Vault's own rule: 3-24 characters
_PATTERN = re.compile(r"[-A-Za-z0-9*?\[\]!]{1,127}")
FOLDERS: tuple[tuple[ObjectType, str, str], ...] = (
    ("secret", "secrets/", ""),
    ("key", "keys/", ".pem"),
    ("cert", "certificates/", ".pem"),
)


@dataclass(frozen=True)
class WholeVault:
    provider_class: ProviderClass
    url: str | None  # a vault outside the known clouds (an emulator): talk to this URL instead


def whole_vault(
    vault: str, include: list[str] | None = None, exclude: list[str] | None = None, *, tenant_id: str = ""
) -> WholeVault:
    """The class a whole-vault mount serves. ``vault`` is a name (public cloud) or an https URL; a URL in
    a known cloud is that cloud's vault, any other is taken as an emulator's. Without ``tenant_id`` the
    token is asked for in the tenant the vault's challenge names."""
    include = include or ["*"]
    for option, patterns in (("--include", include), ("--exclude", exclude or [])):
        for pattern in patterns:
            if not _PATTERN.fullmatch(pattern):
                raise ConfigError(
                    f"{option} {pattern!r}: patterns hold only letters, digits, hyphens and the wildcards * ? [ ] !"
                )
    name, cloud_name, url = _vault(vault)
    objects = tuple(
        ObjectSpec(
            index=index,
            name="",
            type=kind,
            alias="",
            name_pattern=include[0],
            also_matching=tuple(include[1:]),
            excluding=tuple(exclude or ()),
            alias_prefix=prefix,
            alias_suffix=suffix,
            permission=0o600 if kind == "secret" else 0o644,
            optional=True,  # an identity that may not list keys (say) still gets the secrets
        )
        for index, (kind, prefix, suffix) in enumerate(FOLDERS)
    )
    provider_class = ProviderClass(
        name=f"vault {name}",
        namespace="",
        keyvault_name=name,
        tenant_id=tenant_id,
        cloud=CLOUDS[cloud_name],
        objects=objects,
    )
    return WholeVault(provider_class, url)


def _vault(vault: str) -> tuple[str, str, str | None]:
    """(name, cloud, URL to use instead of the cloud's) for a name or a URL."""
    if "://" not in vault:
        if not _VAULT_NAME.fullmatch(vault):
            raise ConfigError(
                f"--vault {vault!r}: not a vault name (3-24 letters, digits and hyphens, starting with a letter) "
                "nor an https:// URL"
            )
        return vault, DEFAULT_CLOUD.lower(), None
    parts = urlsplit(vault)
    if parts.scheme != "https" or not parts.hostname:
        raise ConfigError(f"--vault {vault}: Key Vault URLs are https://<name>.<vault DNS suffix>/")
    host = parts.hostname.lower()
    for key, cloud in CLOUDS.items():
        if host.endswith("." + cloud.vault_dns_suffix):
            return host.split(".", 1)[0], key, None
    return host.split(".", 1)[0], DEFAULT_CLOUD.lower(), vault

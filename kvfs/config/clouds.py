"""Azure clouds: for each ``cloudName``, the vault DNS suffix, the Entra ID authority and the vault's
token resource. Azure Stack Hub has no fixed values: they come from an environment file (go-autorest's
JSON, as the provider reads it through ``cloudEnvFileName``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .messages import quote, shorten

#: Paths are shown whole up to this many characters (the environment file's is usually a short absolute path).
PATH_LIMIT = 200


@dataclass(frozen=True)
class Cloud:
    name: str
    vault_dns_suffix: str
    authority: str  # https://host[/path], no trailing slash
    vault_resource: str  # what vault tokens are for (the scope is <resource>/.default)


CLOUDS: dict[str, Cloud] = {
    c.name.lower(): c
    for c in (
        Cloud("AzurePublicCloud", "vault.azure.net", "https://login.microsoftonline.com", "https://vault.azure.net"),
        Cloud(
            "AzureUSGovernmentCloud",
            "vault.usgovcloudapi.net",
            "https://login.microsoftonline.us",
            "https://vault.usgovcloudapi.net",
        ),
        Cloud("AzureChinaCloud", "vault.azure.cn", "https://login.chinacloudapi.cn", "https://vault.azure.cn"),
        Cloud(
            "AzureGermanCloud",
            "vault.microsoftazure.de",
            "https://login.microsoftonline.de",
            "https://vault.microsoftazure.de",
        ),
    )
}
DEFAULT_CLOUD = "AzurePublicCloud"
STACK_CLOUD = "AzureStackCloud"


def cloud_for(name: str) -> Cloud | None:
    """The cloud for a ``cloudName`` (case-insensitive, empty = public), or None when unknown."""
    return CLOUDS.get((name or DEFAULT_CLOUD).strip().lower())


def vault_url(keyvault_name: str, cloud: Cloud) -> str:
    return f"https://{keyvault_name}.{cloud.vault_dns_suffix}/"


class EnvironmentFileError(ValueError):
    """The environment file cannot give a cloud; the message says which field and why."""


def stack_cloud(path: Path) -> Cloud:
    """An Azure Stack Hub cloud from go-autorest's environment JSON: ``activeDirectoryEndpoint``,
    ``keyVaultDNSSuffix`` and ``keyVaultEndpoint`` (keys matched case-insensitively, others ignored,
    as Go's JSON decoder does)."""
    shown = shorten(str(path), PATH_LIMIT)  # a path from the class: escaped, and not too long for one line
    try:
        data: Any = json.loads(path.read_text())
    except FileNotFoundError:
        raise EnvironmentFileError(f"{shown}: no such file") from None
    except OSError as exc:
        raise EnvironmentFileError(f"{shown}: {exc.strerror or 'cannot be read'}") from None
    except RecursionError:
        raise EnvironmentFileError(f"{shown}: not JSON (nested too deeply)") from None
    except UnicodeDecodeError as exc:
        raise EnvironmentFileError(f"{shown}: not JSON ({exc})") from None
    except ValueError as exc:  # JSON errors, and open()'s "embedded null byte"
        problem = "not a file name (it contains a NUL character)" if "\0" in str(path) else f"not JSON ({exc})"
        raise EnvironmentFileError(f"{shown}: {problem}") from None
    if not isinstance(data, Mapping):
        raise EnvironmentFileError(f"{shown}: must be a JSON object")
    fields = {str(k).lower(): v for k, v in data.items()}

    def field(key: str) -> str:
        value = fields.get(key.lower())
        if not isinstance(value, str) or not value.strip():
            raise EnvironmentFileError(f"{shown}: {key} is required (a string)")
        return value.strip()

    authority = field("activeDirectoryEndpoint").rstrip("/")
    resource = field("keyVaultEndpoint").rstrip("/")
    suffix = field("keyVaultDNSSuffix").strip(".")
    for key, url in (("activeDirectoryEndpoint", authority), ("keyVaultEndpoint", resource)):
        if not url.startswith("https://"):
            raise EnvironmentFileError(f"{shown}: {key} {quote(url)} must be an https:// URL")
    name = fields.get("name") if isinstance(fields.get("name"), str) else STACK_CLOUD
    return Cloud(str(name) or STACK_CLOUD, suffix, authority, resource)

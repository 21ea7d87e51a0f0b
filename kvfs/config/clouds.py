"""Azure clouds: the vault DNS suffix and the Entra ID authority host of each ``cloudName``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Cloud:
    name: str
    vault_dns_suffix: str
    authority_host: str


CLOUDS: dict[str, Cloud] = {
    c.name.lower(): c
    for c in (
        Cloud("AzurePublicCloud", "vault.azure.net", "login.microsoftonline.com"),
        Cloud("AzureUSGovernmentCloud", "vault.usgovcloudapi.net", "login.microsoftonline.us"),
        Cloud("AzureChinaCloud", "vault.azure.cn", "login.chinacloudapi.cn"),
        Cloud("AzureGermanCloud", "vault.microsoftazure.de", "login.microsoftonline.de"),
    )
}
DEFAULT_CLOUD = "AzurePublicCloud"


def cloud_for(name: str) -> Cloud | None:
    """The cloud for a ``cloudName`` (case-insensitive, empty = public), or None when unknown."""
    return CLOUDS.get((name or DEFAULT_CLOUD).strip().lower())


def vault_url(keyvault_name: str, cloud: Cloud) -> str:
    return f"https://{keyvault_name}.{cloud.vault_dns_suffix}/"

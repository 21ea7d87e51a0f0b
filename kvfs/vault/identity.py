"""The credential a SecretProviderClass asks for, built with azure-identity.

``clientID`` → workload identity (the federated token file from the standard ``AZURE_*``
environment, as the AKS webhook injects it); ``useVMManagedIdentity`` (or the deprecated
``usePodIdentity``) → managed identity; otherwise the default chain, so ``az login`` works on a
laptop. The tenant always comes from the class; the authority from ``AZURE_AUTHORITY_HOST`` when
set, else from ``cloudName``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from azure.core.credentials import TokenCredential
from azure.identity import DefaultAzureCredential, ManagedIdentityCredential, WorkloadIdentityCredential

from ..config import ProviderClass
from ..errors import ConfigError

log = logging.getLogger(__name__)

TOKEN_FILE_VARIABLE = "AZURE_FEDERATED_TOKEN_FILE"
AUTHORITY_VARIABLE = "AZURE_AUTHORITY_HOST"


def authority_host(provider_class: ProviderClass, environ: Mapping[str, str]) -> str:
    """The Entra ID authority: the environment's, else the class's cloud's."""
    if environ.get(AUTHORITY_VARIABLE):
        return environ[AUTHORITY_VARIABLE].rstrip("/")
    return f"https://{provider_class.cloud.authority_host}"


def build_credential(
    provider_class: ProviderClass,
    environ: Mapping[str, str] | None = None,
    *,
    ca_file: str | None = None,
) -> TokenCredential:
    """The azure-identity credential the class selects. Raises ConfigError when its inputs are missing."""
    environ = os.environ if environ is None else environ
    authority = authority_host(provider_class, environ)
    # azure-identity's transports wait 300 s by default; a token request that slow is a failure.
    transport: dict[str, Any] = {"connection_timeout": 5, "read_timeout": 15}
    if ca_file:
        transport["connection_verify"] = ca_file

    if provider_class.client_id:
        token_file = environ.get(TOKEN_FILE_VARIABLE, "")
        if not token_file:
            raise ConfigError(
                f"clientID is set (workload identity) but {TOKEN_FILE_VARIABLE} is not: "
                "run with the service account token projected, or remove clientID to use the default chain"
            )
        if not os.path.isfile(token_file):
            raise ConfigError(f"{TOKEN_FILE_VARIABLE}: no such file: {token_file}")
        log.info(
            "identity: workload identity, client %s, tenant %s", provider_class.client_id, provider_class.tenant_id
        )
        return WorkloadIdentityCredential(
            tenant_id=provider_class.tenant_id,
            client_id=provider_class.client_id,
            token_file_path=token_file,
            authority=authority,
            **transport,
        )

    if provider_class.use_vm_managed_identity or provider_class.use_pod_identity:
        if provider_class.use_pod_identity:
            log.warning("usePodIdentity is deprecated upstream; using the managed identity endpoint instead")
        client_id = provider_class.user_assigned_identity_id or None
        log.info("identity: managed identity (%s)", f"user-assigned {client_id}" if client_id else "system-assigned")
        return ManagedIdentityCredential(client_id=client_id, **transport)

    log.info("identity: default chain (environment, workload identity, managed identity, Azure CLI)")
    return DefaultAzureCredential(
        authority=authority,
        exclude_interactive_browser_credential=True,
        additionally_allowed_tenants=[provider_class.tenant_id],
        **transport,
    )

"""Which identity kvfs uses, and why: the class's rules (as the provider reads them) or ``--identity``.

``auto`` keeps the provider's rules: ``useVMManagedIdentity`` (or the deprecated ``usePodIdentity``)
→ managed identity through IMDS; ``clientID`` → workload identity (the federated token file the AKS
webhook projects); ``--client-secret-dir`` → a service principal (the provider's nodePublishSecretRef);
otherwise azure-identity's default chain, so ``az login`` works on a laptop. ``--identity`` overrides
that, so a cluster's unchanged class runs on a laptop with ``--identity cli``.

Every choice becomes a ``TokenKeeper`` around a factory of fresh azure-identity credentials.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from azure.identity import (
    AzureCliCredential,
    ClientSecretCredential,
    DefaultAzureCredential,
    ManagedIdentityCredential,
    WorkloadIdentityCredential,
)

from ..config import ProviderClass
from ..errors import ConfigError
from .auth_errors import IdentityContext
from .secret_files import ClientSecretFiles
from .tokens import TokenKeeper

log = logging.getLogger(__name__)

TOKEN_FILE_VARIABLE = "AZURE_FEDERATED_TOKEN_FILE"
AUTHORITY_VARIABLE = "AZURE_AUTHORITY_HOST"
IDENTITY_MODES = ("auto", "workload", "managed", "service-principal", "cli", "default")


@dataclass(frozen=True)
class IdentityOptions:
    mode: str = "auto"
    client_secret_dir: Path | None = None


@dataclass(frozen=True)
class IdentityPlan:
    """The identity chosen, what decided it, and what its credential needs."""

    context: IdentityContext
    reason: str
    authority: str

    @property
    def kind(self) -> str:
        return self.context.kind

    def describe(self) -> str:
        c = self.context
        if c.kind == "workload":
            return f"workload identity, client {c.client_id}, tenant {c.tenant_id}, token file {c.token_file}"
        if c.kind == "managed":
            return f"managed identity ({f'user-assigned {c.client_id}' if c.client_id else 'system-assigned'}) via IMDS"
        if c.kind == "service-principal":
            return f"service principal from {c.secret_dir}, tenant {c.tenant_id}"
        if c.kind == "cli":
            return f"Azure CLI login (az account get-access-token), tenant {c.tenant_id or 'of the login'}"
        return "the default azure-identity chain (environment, workload identity, managed identity, Azure CLI, ...)"


def authority_host(provider_class: ProviderClass, environ: Mapping[str, str]) -> str:
    """The Entra ID authority: the environment's (the AKS webhook sets it), else the class's cloud's."""
    if environ.get(AUTHORITY_VARIABLE):
        return environ[AUTHORITY_VARIABLE].rstrip("/")
    return provider_class.cloud.authority


def choose_identity(
    provider_class: ProviderClass, options: IdentityOptions, environ: Mapping[str, str]
) -> IdentityPlan:
    """The plan, or a ConfigError naming what is missing for it."""
    pc = provider_class
    if options.mode not in IDENTITY_MODES:
        raise ConfigError(f"--identity {options.mode}: not one of {', '.join(IDENTITY_MODES)}")
    if options.mode != "auto":
        kind, reason = options.mode, f"--identity {options.mode}"
    elif pc.use_vm_managed_identity or pc.use_pod_identity:
        kind = "managed"
        reason = (
            "the class sets useVMManagedIdentity" if pc.use_vm_managed_identity else "the class sets usePodIdentity"
        )
    elif pc.client_id:
        kind, reason = "workload", "the class sets clientID"
    elif options.client_secret_dir is not None:
        kind, reason = "service-principal", "--client-secret-dir is given"
    else:
        kind, reason = "default", "the class names no identity"
    authority = authority_host(pc, environ)

    if kind == "workload":
        client_id = pc.client_id or environ.get("AZURE_CLIENT_ID", "")
        if not client_id:
            raise ConfigError("workload identity needs a client id: set clientID in the class (or AZURE_CLIENT_ID)")
        token_file = environ.get(TOKEN_FILE_VARIABLE, "")
        if not token_file:
            raise ConfigError(
                f"{reason} (workload identity) but {TOKEN_FILE_VARIABLE} is not set: run with the service account "
                'token projected (the pod label azure.workload.identity/use: "true"), or choose another --identity'
            )
        if not os.path.isfile(token_file):
            raise ConfigError(f"{TOKEN_FILE_VARIABLE}: no such file: {token_file}")
        context = IdentityContext("workload", pc.tenant_id, client_id=client_id, token_file=token_file)
    elif kind == "managed":
        context = IdentityContext("managed", pc.tenant_id, client_id=pc.user_assigned_identity_id)
    elif kind == "service-principal":
        if options.client_secret_dir is None:
            raise ConfigError(
                "--identity service-principal needs --client-secret-dir DIR (files clientid, clientsecret)"
            )
        files = ClientSecretFiles(options.client_secret_dir)
        context = IdentityContext(
            "service-principal",
            pc.tenant_id,
            client_id=files.read().client_id,
            secret_dir=str(options.client_secret_dir),
        )
    else:
        context = IdentityContext(kind, pc.tenant_id)
    return IdentityPlan(context, reason, authority)


def build_credential(
    provider_class: ProviderClass,
    environ: Mapping[str, str] | None = None,
    *,
    ca_file: str | None = None,
    options: IdentityOptions | None = None,
) -> TokenKeeper:
    """The token keeper for the class's (or the option's) identity; says in one line what was chosen and why."""
    environ = os.environ if environ is None else environ
    plan = choose_identity(provider_class, options or IdentityOptions(), environ)
    log.info("identity: %s (%s)", plan.describe(), plan.reason, extra={"identity": plan.kind})
    factory, fingerprint = credential_factory(plan, options or IdentityOptions(), ca_file=ca_file)
    return TokenKeeper(
        factory, tenant_id=provider_class.tenant_id, explain=plan.context.explain, fingerprint=fingerprint
    )


def credential_factory(
    plan: IdentityPlan, options: IdentityOptions, *, ca_file: str | None = None
) -> tuple[Callable[[], Any], Callable[[], object]]:
    """A maker of new azure-identity credentials for the plan, and what changes when their inputs do."""
    c = plan.context
    # azure-identity's transports wait 300 s by default; a token request that slow is a failure.
    transport: dict[str, Any] = {"connection_timeout": 5, "read_timeout": 15}
    if ca_file:
        transport["connection_verify"] = ca_file

    if c.kind == "workload":
        return lambda: WorkloadIdentityCredential(
            tenant_id=c.tenant_id,
            client_id=c.client_id,
            token_file_path=c.token_file,
            authority=plan.authority,
            **transport,
        ), lambda: None
    if c.kind == "managed":
        # The provider means IMDS: azure-identity would silently turn into workload identity when the AKS
        # webhook's variables are set; this (private, but what its own default chain passes) keeps it on IMDS.
        return lambda: ManagedIdentityCredential(
            client_id=c.client_id or None, _exclude_workload_identity_credential=True, **transport
        ), lambda: None
    if c.kind == "service-principal":
        files = ClientSecretFiles(Path(c.secret_dir))

        def service_principal() -> ClientSecretCredential:
            secret = files.read()
            # Instance discovery asks login.microsoftonline.com about the authority: pointless for the
            # well-known clouds, impossible for Azure Stack Hub or an emulator.
            return ClientSecretCredential(
                c.tenant_id,
                secret.client_id,
                secret.client_secret,
                authority=plan.authority,
                disable_instance_discovery=True,
                **transport,
            )

        return service_principal, files.fingerprint
    # No tenant configured (a whole-vault mount): the tenant the vault's challenge names is the one to ask.
    allowed_tenants = [c.tenant_id] if c.tenant_id else ["*"]
    if c.kind == "cli":
        return lambda: AzureCliCredential(
            tenant_id=c.tenant_id, process_timeout=15, additionally_allowed_tenants=allowed_tenants
        ), lambda: None
    return lambda: DefaultAzureCredential(
        authority=plan.authority,
        exclude_interactive_browser_credential=True,
        additionally_allowed_tenants=allowed_tenants,
        **transport,
    ), lambda: None

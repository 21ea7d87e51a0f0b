"""``spec.parameters``: the vault, the tenant, the cloud and the identity switches.

Parameters are read as the provider gets them: string keys, trimmed string values, booleans with
Go's ``strconv.ParseBool``. Unknown keys are warned about once each, never used.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .clouds import CLOUDS, DEFAULT_CLOUD, STACK_CLOUD, Cloud, EnvironmentFileError, stack_cloud
from .messages import Context, as_text, did_you_mean, key_name, kind_of, log, missing_hint, quote

PARAMS = "spec.parameters"

#: Parameters kvfs reads.
KNOWN_PARAMETERS = (
    "objects",
    "keyvaultName",
    "tenantID",
    "tenantId",
    "cloudName",
    "cloudEnvFileName",
    "clientID",
    "useVMManagedIdentity",
    "userAssignedIdentityID",
    "usePodIdentity",
    "useAzureTokenProxy",
)
#: Parameters of old provider versions: accepted silently, never used.
LEGACY_PARAMETERS = ("resourceGroup", "subscriptionId")
#: The driver adds pod name, namespace, uid, service account name and tokens under this prefix.
DRIVER_PARAMETER_PREFIX = "csi.storage.k8s.io/"

#: Names go-autorest accepts besides the canonical ones (it compares upper-cased).
CLOUD_ALIASES = {"azurecloud": "AzurePublicCloud", "azureusgovernment": "AzureUSGovernmentCloud"}

_IDENTITY_SWITCHES = ("usePodIdentity", "useVMManagedIdentity", "useAzureTokenProxy")

#: strconv.ParseBool, exactly.
_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})

_VAULT_NAME_CHARS = re.compile(r"[-A-Za-z0-9]+")
#: Characters that would change the meaning of a URL path segment (tenant, object version).
URL_UNSAFE = re.compile(r"[/?#%\s\\]")


def read_parameters(raw: Any, ctx: Context) -> dict[str, str]:
    """``spec.parameters`` as the provider gets it: string keys, trimmed string values.

    Kubernetes holds parameters as ``map[string]string``, so ``usePodIdentity: false`` without
    quotes is refused there; we refuse it here with the fix. A null value is an empty string, as
    Go's decoder leaves it.
    """
    if raw is None:
        ctx.fail(PARAMS, "is required (keyvaultName, tenantID and objects)")
    if not isinstance(raw, Mapping):
        ctx.fail(PARAMS, f"must be a mapping, not {kind_of(raw)}")
    params: dict[str, str] = {}
    for key, value in raw.items():
        if not isinstance(key, str):
            ctx.fail(PARAMS, f"key {quote(as_text(key))} must be a string")
        if value is None:
            value = ""
        if not isinstance(value, str):
            ctx.fail(f"{PARAMS}.{key_name(key)}", f"must be a string, not {kind_of(value)}{_quote_hint(value)}")
        params[key] = value.strip()
    return params


def _quote_hint(value: object) -> str:
    """`` (quote it: "true")`` for a boolean or a short number, which Kubernetes would refuse unquoted."""
    if not isinstance(value, bool | int | float):
        return ""
    text = as_text(value).lower()
    return f" (quote it: {quote(text)})" if len(text) <= 40 else ""


def warn_unknown_parameters(params: Mapping[str, str], ctx: Context) -> None:
    """One warning per unknown key; the driver's own keys and legacy keys pass silently."""
    for key in params:
        if key in KNOWN_PARAMETERS or key in LEGACY_PARAMETERS or key.startswith(DRIVER_PARAMETER_PREFIX):
            continue
        suggestion = did_you_mean(key, [k for k in KNOWN_PARAMETERS if k != "tenantId"])
        ctx.warn(PARAMS, f"unknown key {quote(key)} is ignored{suggestion}")
    if params.get("cloudEnvFileName") and params.get("cloudName", "").lower() != STACK_CLOUD.lower():
        ctx.warn(f"{PARAMS}.cloudEnvFileName", "is read only with cloudName AzureStackCloud, and is ignored")


def read_keyvault_name(params: Mapping[str, str], ctx: Context) -> str:
    name = params.get("keyvaultName", "")
    if not name:
        ctx.fail(f"{PARAMS}.keyvaultName", f"is required{missing_hint(params, 'keyvaultName')}")
    problem = _vault_name_problem(name)
    if problem:
        ctx.fail(f"{PARAMS}.keyvaultName", f"{quote(name)} {problem}")
    return name


def _vault_name_problem(name: str) -> str | None:
    """Azure's rule for vault names (the provider checks only length and characters)."""
    if not 3 <= len(name) <= 24:
        return "must be 3-24 characters long"
    if not _VAULT_NAME_CHARS.fullmatch(name):
        return "may contain only letters, digits and hyphens"
    if not name[0].isalpha():
        return "must start with a letter"
    if name[-1] == "-":
        return "must end with a letter or digit"
    if "--" in name:
        return "must not contain consecutive hyphens"
    return None


def read_tenant_id(params: Mapping[str, str], ctx: Context) -> str:
    """``tenantID``, else the deprecated ``tenantId`` (the provider's order)."""
    tenant = params.get("tenantID", "")
    key = "tenantID"
    if not tenant:
        tenant, key = params.get("tenantId", ""), "tenantId"
        if tenant:
            log.debug("%s: %s.tenantId is deprecated; use tenantID", ctx.origin, PARAMS)
    if not tenant:
        hint = missing_hint(params, "tenantID", KNOWN_PARAMETERS)
        ctx.fail(f"{PARAMS}.tenantID", f"is required (tenantId is also accepted){hint}")
    if URL_UNSAFE.search(tenant):
        ctx.fail(f"{PARAMS}.{key}", f"{quote(tenant)} is not a tenant ID or domain name")
    return tenant


def read_cloud(params: Mapping[str, str], ctx: Context) -> Cloud:
    """The cloud of ``cloudName`` (case-insensitive, empty = public, go-autorest aliases); for
    AzureStackCloud, the one ``cloudEnvFileName`` describes."""
    raw = params.get("cloudName", "")
    if not raw:
        return CLOUDS[DEFAULT_CLOUD.lower()]
    lowered = raw.lower()
    if lowered == STACK_CLOUD.lower():
        path = params.get("cloudEnvFileName", "")
        if not path:
            ctx.fail(f"{PARAMS}.cloudEnvFileName", "is required with cloudName AzureStackCloud (the environment file)")
        try:
            return stack_cloud(Path(path))
        except EnvironmentFileError as exc:
            ctx.fail(f"{PARAMS}.cloudEnvFileName", str(exc))
    cloud = CLOUDS.get(CLOUD_ALIASES.get(lowered, lowered).lower())
    if cloud is None:
        valid = ", ".join([*(c.name for c in CLOUDS.values()), STACK_CLOUD])
        ctx.fail(f"{PARAMS}.cloudName", f"{quote(raw)} is not one of {valid} (or empty)")
    return cloud


def parse_bool(value: str) -> bool | None:
    """Go's ``strconv.ParseBool`` with empty = false, as the provider reads its switches; None if invalid."""
    if value == "" or value in _FALSE:
        return False
    if value in _TRUE:
        return True
    return None


@dataclass(frozen=True)
class Identity:
    client_id: str
    use_pod_identity: bool
    use_vm_managed_identity: bool
    user_assigned_identity_id: str


def _read_bool_parameter(params: Mapping[str, str], key: str, ctx: Context) -> bool:
    value = parse_bool(params.get(key, ""))
    if value is None:
        ctx.fail(f"{PARAMS}.{key}", f"{quote(params[key])} is not a boolean (use true or false)")
    return value


def read_identity(params: Mapping[str, str], ctx: Context) -> Identity:
    """The identity switches, refusing combinations where the identity used would be a guess."""
    switches = {key: _read_bool_parameter(params, key, ctx) for key in _IDENTITY_SWITCHES}
    enabled = [key for key, on in switches.items() if on]
    if len(enabled) > 1:
        ctx.fail(PARAMS, f"{' and '.join(enabled)} are true; at most one identity mode may be enabled")
    if switches["useAzureTokenProxy"]:
        ctx.fail(f"{PARAMS}.useAzureTokenProxy", "true (identity binding) is not supported by kvfs")
    client_id = params.get("clientID", "")
    if client_id and enabled:
        ctx.fail(
            f"{PARAMS}.clientID",
            f"is set (workload identity) together with {enabled[0]}=true: the identity is ambiguous",
        )
    return Identity(
        client_id=client_id,
        use_pod_identity=switches["usePodIdentity"],
        use_vm_managed_identity=switches["useVMManagedIdentity"],
        user_assigned_identity_id=params.get("userAssignedIdentityID", ""),
    )

"""Why a token could not be had, in one line that says what to fix.

azure-identity's errors carry Entra ID's answer (``AADSTSnnnnn: ...`` with trace ids), IMDS's, or the
Azure CLI's. The codes people meet in practice get a sentence naming the setting to change; anything
else keeps the service's own first sentence. No secret is ever part of these messages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_CODE = re.compile(r"AADSTS(\d+)")
_ISSUER_SUBJECT = re.compile(
    r"Assertion Issuer: '(?P<iss>[^']*)'\. Assertion Subject: '(?P<sub>[^']*)'\. Assertion Audience: '(?P<aud>[^']*)'"
)
_ISSUER = re.compile(r"assertion issuer '(?P<iss>[^']*)'")
_DESCRIPTION = re.compile(r"AADSTS\d+: (?P<text>.*?)(?: Trace ID:|$)", re.DOTALL)
FEDERATION_AUDIENCE = "api://AzureADTokenExchange"


@dataclass(frozen=True)
class IdentityContext:
    """What the messages may name: never a secret."""

    kind: str  # workload | managed | service-principal | cli | default
    tenant_id: str
    client_id: str = ""
    token_file: str = ""
    secret_dir: str = ""

    def explain(self, exc: Exception) -> str:
        text = _flatten(getattr(exc, "message", None) or str(exc))
        found = _CODE.search(text)
        if found:
            return self._entra(int(found.group(1)), text)
        return self._local(type(exc).__name__, text)

    def _entra(self, code: int, text: str) -> str:
        client = self.client_id or "the application"
        if code == 700024:
            return (
                f"the service-account token in {self.token_file or 'AZURE_FEDERATED_TOKEN_FILE'} is expired or not yet "
                "valid (AADSTS700024): the kubelet rewrites a projected token before it expires; check the token "
                "projection and the node's clock"
            )
        if code == 70021:
            found = _ISSUER_SUBJECT.search(text)
            issuer, subject = (found.group("iss"), found.group("sub")) if found else ("<cluster issuer>", "<subject>")
            return (
                f"no federated credential of client {client} matches the service-account token (AADSTS70021): its "
                f"subject must be '{subject}' (system:serviceaccount:<namespace>:<service account>), its issuer the "
                f"cluster's OIDC issuer '{issuer}' and its audience {FEDERATION_AUDIENCE} "
                f"(az identity federated-credential create --issuer {issuer} --subject {subject})"
            )
        if code == 700211:
            found = _ISSUER.search(text)
            issuer = found.group("iss") if found else "<cluster issuer>"
            return (
                f"no federated credential of client {client} trusts the issuer '{issuer}' (AADSTS700211): add one with "
                "the cluster's OIDC issuer (az aks show --query oidcIssuerProfile.issuerUrl) and the subject "
                "system:serviceaccount:<namespace>:<service account>"
            )
        if code == 700016:
            return (
                f"client {client} is not an application of tenant {self.tenant_id} (AADSTS700016): "
                "check clientID (or the clientid file) and tenantID"
            )
        if code in (90002, 900023):
            return f"tenant {self.tenant_id} was not found (AADSTS{code}): check tenantID and cloudName"
        if code == 7000215:
            where = f" in {self.secret_dir}" if self.secret_dir else ""
            return f"the client secret of {client} is wrong (AADSTS7000215): check the clientsecret file{where}"
        if code == 7000222:
            return f"the client secret of {client} has expired (AADSTS7000222): create a new one and update the file"
        description = _DESCRIPTION.search(text)
        first = _first_sentence(description.group("text") if description else text)
        return f"Entra ID refused the token request (AADSTS{code}): {first}"

    def _local(self, kind: str, text: str) -> str:
        lowered = text.lower()
        if self.kind == "cli" or "azure cli" in lowered or "az login" in lowered:
            if "not found on path" in lowered or "not installed" in lowered:
                return "the Azure CLI (az) is not installed or not on PATH (kvfs uses it: --identity cli)"
            if "claims challenge" in lowered:
                return "the vault asks for a claims challenge the Azure CLI cannot answer: run 'az login' again"
            if "az login" in lowered:
                return "the Azure CLI is not logged in: run 'az login' (kvfs uses it: --identity cli)"
        if self.kind == "managed" or "managedidentitycredential" in lowered or "imds" in lowered:
            who = f"user-assigned identity {self.client_id}" if self.client_id else "the system-assigned identity"
            return (
                f"managed identity ({who}) gave no token: {_first_sentence(text)} "
                "(is the identity assigned to this VM or node pool, and IMDS reachable?)"
            )
        if "tenant" in lowered and "belongs to tenant" in lowered:
            return text
        return f"{_first_sentence(text) or kind}"


def _flatten(text: str) -> str:
    return " ".join(text.split())


def _first_sentence(text: str, limit: int = 240) -> str:
    text = _flatten(text)
    end = text.find(". ")
    sentence = text if end < 0 else text[: end + 1]
    return sentence if len(sentence) <= limit else sentence[: limit - 1] + "…"

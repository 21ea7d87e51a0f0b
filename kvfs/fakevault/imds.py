"""The token endpoint of a fake Azure Instance Metadata Service: one VM's managed identities, tokens that
the fake vault accepts (issued by the fake authority, with its key), errors in IMDS's own shapes.

Real IMDS answers numbers as strings and echoes the requested resource; error bodies are
``{"error", "error_description"}``, except a refused resource, where IMDS passes Entra's AADSTS body on.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from typing import Any

from .authority import Authority
from .entra import error_response

TOKEN_PATH = "/metadata/identity/oauth2/token"
SUBSCRIPTION = "5f0e3d1c-2b4a-4c6d-8e9f-a0b1c2d3e4f5"
RESOURCE_GROUP = "kvfs-fake"
VM_ID = (
    f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}/providers/Microsoft.Compute/virtualMachines/kvfs-vm"
)
_ID_PARAMETERS = ("client_id", "object_id", "msi_res_id")

Response = tuple[int, dict[str, Any]]


@dataclass(frozen=True)
class ManagedIdentity:
    """A managed identity on the fake VM; ``resource_id`` is what ``msi_res_id`` names (the VM's id for the
    system-assigned identity)."""

    client_id: str
    object_id: str
    resource_id: str
    system_assigned: bool


def _invalid_request(description: str) -> Response:
    return 400, {"error": "invalid_request", "error_description": description}


class Imds:
    """Managed identities (thread-safe) and the answers to ``GET /metadata/identity/oauth2/token``."""

    def __init__(self, authority: Authority) -> None:
        self._authority = authority
        self._lock = threading.Lock()
        self._system = ManagedIdentity(str(uuid.uuid4()), str(uuid.uuid4()), VM_ID, system_assigned=True)
        self._identities: list[ManagedIdentity] = [self._system]

    def add(self, client_id: str | None = None) -> ManagedIdentity:
        """Assign an identity to the VM (``None`` = the system-assigned one); returns it. Idempotent."""
        with self._lock:
            for identity in self._identities:
                if (client_id is None and identity.system_assigned) or identity.client_id == client_id:
                    return identity
            if client_id is None:
                identity = self._system
            else:
                name = f"kvfs-identity-{client_id[:8]}"
                identity = ManagedIdentity(
                    client_id,
                    str(uuid.uuid4()),
                    f"/subscriptions/{SUBSCRIPTION}/resourcegroups/{RESOURCE_GROUP}/providers/"
                    f"Microsoft.ManagedIdentity/userAssignedIdentities/{name}",
                    system_assigned=False,
                )
            self._identities.append(identity)
            return identity

    def clear(self) -> None:
        """No identity at all (the system-assigned one included)."""
        with self._lock:
            self._identities.clear()

    def identities(self) -> list[ManagedIdentity]:
        with self._lock:
            return list(self._identities)

    def _select(self, query: dict[str, str]) -> ManagedIdentity | Response:
        given = [(name, query[name]) for name in _ID_PARAMETERS if query.get(name)]
        identities = self.identities()
        if len(given) > 1:
            return _invalid_request("Only one of client_id, object_id and msi_res_id may be specified")
        if given:
            name, value = given[0]
            for identity in identities:
                if (
                    (name == "client_id" and identity.client_id.lower() == value.lower())
                    or (name == "object_id" and identity.object_id.lower() == value.lower())
                    or (name == "msi_res_id" and identity.resource_id.lower() == value.lower())
                ):
                    return identity
            return _invalid_request("Identity not found")
        system = [i for i in identities if i.system_assigned]
        if system:
            return system[0]
        if len(identities) == 1:
            return identities[0]
        if identities:
            return _invalid_request(
                "Multiple user assigned identities exist, please specify the clientId / resourceId of the identity "
                "in the token request"
            )
        return _invalid_request("Identity not found")

    def token(self, query: dict[str, str], headers: dict[str, str]) -> Response:
        """Answer a token request; ``headers`` have lower-case names."""
        if headers.get("metadata") != "true":
            return _invalid_request("Required metadata header not specified")
        if not query.get("api-version"):
            return _invalid_request("Required query variable 'api-version' is missing")
        resource = query.get("resource", "")
        if not resource:
            return _invalid_request("Required query variable 'resource' is missing")
        selected = self._select(query)
        if not isinstance(selected, ManagedIdentity):
            return selected
        authority = self._authority
        if resource.rstrip("/") != authority.resource:
            return error_response(
                400,
                "invalid_resource",
                500011,
                f"The resource principal named {resource} was not found in the tenant named {authority.tenant_id}. "
                "This can happen if the application has not been installed by the administrator of the tenant or "
                "consented to by any user in the tenant. You might have sent your authentication request to the "
                "wrong tenant.",
                authority.authority_host,
            )
        issued = authority.issue(
            client_id=selected.client_id,
            object_id=selected.object_id,
            resource=resource,
            extra={"xms_mirid": selected.resource_id},
        )
        return 200, {
            "access_token": issued.token,
            "client_id": selected.client_id,
            "expires_in": str(issued.expires_in),
            "expires_on": str(issued.expires_on),
            "ext_expires_in": str(issued.expires_in),
            "not_before": str(issued.not_before),
            "refresh_token": "",
            "resource": resource,
            "token_type": "Bearer",
        }

"""The fake Entra ID authority: federated token files in, bearer tokens for the vault out.

Tokens are JWT-shaped and HMAC-signed with a key that lives only in this process, so the vault can tell
its own tokens from anything else. The federated token (what a Kubernetes service-account token file
holds) is signed the same way with a different audience, so it only works as a client assertion.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from .keys import b64url, b64url_decode

VAULT_RESOURCE = "https://vault.azure.net"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
FEDERATION_AUDIENCE = "api://AzureADTokenExchange"
FEDERATED_SUBJECT = "system:serviceaccount:kvfs:kvfs"
#: Lifetime of a federated token file: long, because nothing rotates it for a running demo.
FEDERATED_LIFETIME = 365 * 86400


class Authority:
    """Issues and checks tokens for one tenant and one application (client id)."""

    def __init__(
        self, tenant_id: str, client_id: str, *, token_lifetime: int = 3600, clock: Callable[[], float] = time.time
    ) -> None:
        self.tenant_id = tenant_id
        self.client_id = client_id
        self.token_lifetime = token_lifetime
        #: Accepted as ``client_secret`` too, so MSAL-based ClientSecretCredential works against the fake.
        self.client_secret = secrets.token_urlsafe(32)
        self._key = secrets.token_bytes(32)
        self._clock = clock
        #: ``https://host:port``; set by the server once it listens.
        self.authority_host = "https://fake-authority.invalid"

    # -- tokens -----------------------------------------------------------------------------

    def _sign(self, claims: dict[str, Any]) -> str:
        header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
        payload = b64url(json.dumps(claims, separators=(",", ":")).encode())
        signature = hmac.new(self._key, f"{header}.{payload}".encode(), hashlib.sha256).digest()
        return f"{header}.{payload}.{b64url(signature)}"

    def _verify(self, token: str, audience: str) -> tuple[dict[str, Any] | None, str]:
        """``(claims, "")`` for a valid token of ours with that audience, else ``(None, reason)``."""
        parts = token.split(".")
        if len(parts) != 3:
            return None, "the token is not a JWT"
        try:
            expected = hmac.new(self._key, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
            if not hmac.compare_digest(expected, b64url_decode(parts[2])):
                return None, "the token signature is invalid"
            claims = json.loads(b64url_decode(parts[1]))
        except ValueError:
            return None, "the token is malformed"
        if not isinstance(claims, dict) or claims.get("aud") != audience:
            return None, "the token audience is invalid"
        if not isinstance(claims.get("exp"), int) or claims["exp"] <= self._clock():
            return None, "the token is expired"
        return claims, ""

    def federated_token(self) -> str:
        """A fresh federated (service-account-like) token, valid as ``client_assertion``."""
        now = int(self._clock())
        return self._sign(
            {
                "iss": f"{self.authority_host}/federation",
                "sub": FEDERATED_SUBJECT,
                "aud": FEDERATION_AUDIENCE,
                "iat": now,
                "nbf": now,
                "exp": now + FEDERATED_LIFETIME,
                "jti": uuid.uuid4().hex,
            }
        )

    def check_access_token(self, token: str) -> str:
        """Empty string when ``token`` is a valid vault token for our tenant; else why not."""
        claims, reason = self._verify(token, VAULT_RESOURCE)
        if claims is None:
            return reason
        if claims.get("tid") != self.tenant_id:
            return "the token was issued for another tenant"
        return ""

    # -- endpoints ----------------------------------------------------------------------------

    def openid_configuration(self, tenant: str) -> tuple[int, dict[str, Any]]:
        """``GET /{tenant}/v2.0/.well-known/openid-configuration`` (what MSAL fetches first)."""
        if tenant != self.tenant_id:
            return self._error(400, "invalid_tenant", 90002, f"Tenant '{tenant}' not found.")
        base = f"{self.authority_host}/{tenant}"
        return 200, {
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            "issuer": f"{base}/v2.0",
            "jwks_uri": f"{base}/discovery/v2.0/keys",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "tenant_region_scope": None,
        }

    def instance_discovery(self) -> tuple[int, dict[str, Any]]:
        """``GET /common/discovery/instance``: lets MSAL accept this host as an authority."""
        host = self.authority_host.removeprefix("https://")
        endpoint = f"{self.authority_host}/{self.tenant_id}/v2.0/.well-known/openid-configuration"
        return 200, {
            "tenant_discovery_endpoint": endpoint,
            "api-version": "1.1",
            "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}],
        }

    def token(self, tenant: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """``POST /{tenant}/oauth2/v2.0/token``: client credentials with a federated assertion or the secret."""
        if tenant != self.tenant_id:
            return self._error(
                400,
                "invalid_request",
                90002,
                f"Tenant '{tenant}' not found. Check to make "
                "sure you have the correct tenant ID and are signing into the correct cloud.",
            )
        grant = form.get("grant_type")
        if grant != "client_credentials":
            return self._error(
                400, "unsupported_grant_type", 70003, f"The app requested an unsupported grant type '{grant}'."
            )
        client_id = form.get("client_id", "")
        if client_id != self.client_id:
            return self._error(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory '{tenant}'.",
            )
        resource = self._resource(form.get("scope", ""))
        if resource is None:
            return self._error(
                400,
                "invalid_scope",
                1002012,
                "The provided value for the input parameter 'scope' is not valid; the fake "
                f"authority issues tokens for {VAULT_RESOURCE}/.default only.",
            )
        if "client_assertion" in form:
            if form.get("client_assertion_type") != ASSERTION_TYPE:
                return self._error(400, "invalid_request", 90014, f"client_assertion_type must be '{ASSERTION_TYPE}'.")
            claims, reason = self._verify(form["client_assertion"], FEDERATION_AUDIENCE)
            if claims is None:
                return self._error(
                    401,
                    "invalid_client",
                    700211,
                    f"No matching federated identity record found for presented assertion: {reason}.",
                )
        elif "client_secret" in form:
            if not hmac.compare_digest(form["client_secret"].encode(), self.client_secret.encode()):
                return self._error(401, "invalid_client", 7000215, "Invalid client secret provided.")
        else:
            return self._error(
                400,
                "invalid_client",
                7000216,
                "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.",
            )
        now = int(self._clock())
        access = self._sign(
            {
                "aud": resource,
                "iss": f"https://sts.windows.net/{self.tenant_id}/",
                "tid": self.tenant_id,
                "appid": self.client_id,
                "oid": self.client_id,
                "sub": self.client_id,
                "iat": now,
                "nbf": now,
                "exp": now + self.token_lifetime,
                "uti": uuid.uuid4().hex,
            }
        )
        return 200, {
            "token_type": "Bearer",
            "expires_in": self.token_lifetime,
            "ext_expires_in": self.token_lifetime,
            "access_token": access,
        }

    @staticmethod
    def _resource(scope: str) -> str | None:
        for entry in scope.split():
            if entry.endswith("/.default") and entry.removesuffix("/.default").rstrip("/") == VAULT_RESOURCE:
                return VAULT_RESOURCE
        return None

    @staticmethod
    def _error(status: int, error: str, code: int, description: str) -> tuple[int, dict[str, Any]]:
        """An Entra ID (AADSTS) error body."""
        trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        return status, {
            "error": error,
            "error_description": f"AADSTS{code}: {description} Trace ID: {trace} Correlation ID: {correlation} "
            f"Timestamp: {stamp}",
            "error_codes": [code],
            "timestamp": stamp,
            "trace_id": trace,
            "correlation_id": correlation,
        }

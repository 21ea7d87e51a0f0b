"""The fake Entra ID authority: federated token files (or the client secret) in, bearer tokens for the vault out.

Access tokens are JWT-shaped and HMAC-signed with a key that lives only in this process, so the vault can tell
its own tokens from anything else; rotating that key makes the vault refuse every token issued before. The
fake IMDS and ``mint_access_token`` issue through ``issue`` too. Client assertions are checked by ``Federation``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import secrets
import time
import uuid
from collections.abc import Callable
from typing import Any, NamedTuple

from .entra import error_response
from .federation import Federation
from .keys import b64url, b64url_decode

VAULT_RESOURCE = "https://vault.azure.net"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


class Issued(NamedTuple):
    """An access token and its times (epoch seconds; ``expires_in`` as the token endpoint reports it)."""

    token: str
    expires_in: int
    expires_on: int
    not_before: int


class Authority:
    """Issues and checks tokens for one tenant, one application (client id) and one resource."""

    def __init__(
        self,
        tenant_id: str,
        client_id: str,
        federation: Federation,
        *,
        token_lifetime: float = 3600,
        resource: str = VAULT_RESOURCE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.tenant_id = tenant_id
        self.client_id = client_id
        self.federation = federation
        self.token_lifetime = token_lifetime
        #: What tokens are issued for (``aud``) and what the vault accepts; no trailing slash.
        self.resource = resource.rstrip("/")
        #: Accepted as ``client_secret`` too, so MSAL-based ClientSecretCredential works against the fake.
        self.client_secret = secrets.token_urlsafe(32)
        self._key = secrets.token_bytes(32)
        self._clock = clock
        #: ``https://host:port``; set by the server once it listens.
        self.authority_host = "https://fake-authority.invalid"

    # -- tokens -----------------------------------------------------------------------------

    def rotate_key(self) -> None:
        """A new signing key: every access token issued so far stops verifying."""
        self._key = secrets.token_bytes(32)

    def _sign(self, claims: dict[str, Any]) -> str:
        header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
        payload = b64url(json.dumps(claims, separators=(",", ":")).encode())
        signature = hmac.new(self._key, f"{header}.{payload}".encode(), hashlib.sha256).digest()
        return f"{header}.{payload}.{b64url(signature)}"

    def _verify(self, token: str) -> tuple[dict[str, Any] | None, str]:
        """``(claims, "")`` for a valid token of ours for our resource, else ``(None, reason)``."""
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
        aud = claims.get("aud") if isinstance(claims, dict) else None
        if not isinstance(aud, str) or aud.rstrip("/") != self.resource:
            return None, "the token audience is invalid"
        if not isinstance(claims.get("exp"), int) or claims["exp"] <= self._clock():
            return None, "the token is expired"
        return claims, ""

    def issue(
        self,
        *,
        client_id: str | None = None,
        object_id: str | None = None,
        resource: str | None = None,
        lifetime: float | None = None,
        extra: dict[str, Any] | None = None,
    ) -> Issued:
        """A vault access token. ``client_id`` defaults to the application;
        ``resource`` (the ``aud``, as requested) to ours. ``exp`` is rounded up, so a token lives at least
        ``lifetime`` seconds (a few seconds work)."""
        now = self._clock()
        appid = client_id or self.client_id
        seconds = self.token_lifetime if lifetime is None else lifetime
        expires_on = math.ceil(now + seconds)
        claims = {
            "aud": resource or self.resource,
            "iss": f"https://sts.windows.net/{self.tenant_id}/",
            "iat": int(now),
            "nbf": int(now),
            "exp": expires_on,
            "appid": appid,
            "idtyp": "app",
            "oid": object_id or appid,
            "sub": object_id or appid,
            "tid": self.tenant_id,
            "uti": uuid.uuid4().hex,
            **(extra or {}),
        }
        return Issued(self._sign(claims), math.ceil(seconds), expires_on, int(now))

    def check_access_token(self, token: str) -> str:
        """Empty string when ``token`` is a valid vault token for our tenant; else why not."""
        claims, reason = self._verify(token)
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
        if not self._scope_ok(form.get("scope", "")):
            return self._error(
                400,
                "invalid_scope",
                1002012,
                "The provided value for the input parameter 'scope' is not valid; the fake "
                f"authority issues tokens for {self.resource}/.default only.",
            )
        if "client_assertion" in form:
            if form.get("client_assertion_type") != ASSERTION_TYPE:
                return self._error(400, "invalid_request", 90014, f"client_assertion_type must be '{ASSERTION_TYPE}'.")
            rejection = self.federation.check(form["client_assertion"])
            if rejection is not None:
                return self._error(rejection.status, rejection.error, rejection.code, rejection.description)
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
        issued = self.issue()
        return 200, {
            "token_type": "Bearer",
            "expires_in": issued.expires_in,
            "ext_expires_in": issued.expires_in,
            "access_token": issued.token,
        }

    def _scope_ok(self, scope: str) -> bool:
        return any(
            entry.endswith("/.default") and entry.removesuffix("/.default").rstrip("/") == self.resource
            for entry in scope.split()
        )

    def _error(self, status: int, error: str, code: int, description: str) -> tuple[int, dict[str, Any]]:
        """An Entra ID (AADSTS) error body."""
        return error_response(status, error, code, description, self.authority_host)

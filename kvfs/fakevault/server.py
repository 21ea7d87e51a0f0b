"""The request handler: routes to the test hooks, the authority or the vault (on ``https.TLSServer``).

Every non-hook request is logged, then faults apply, then the authority or the vault (after its
bearer-token check and the throttle) answers. Answers always carry Content-Length (keep-alive).

Order for a vault request: fault (an injected answer wins and is not counted) -> token check (a 401 is
not counted) -> throttle (429 ``Throttled`` with ``Retry-After``; not counted) -> the REST route (counted,
whatever its status).
"""

from __future__ import annotations

import json
import logging
import ssl
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from . import hooks, https, vaultapi
from .authority import Authority
from .errors import FakeVaultError
from .faults import Fault, FaultSet
from .reqlog import RequestLog
from .state import VaultState
from .throttle import THROTTLED_BODY, Throttle

log = logging.getLogger("kvfs.fakevault")

MAX_BODY = 8 * 1024 * 1024

_FAULT_CODES = {
    400: "BadParameter",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    408: "RequestTimeout",
    409: "Conflict",
    429: "Throttled",
    500: "InternalServerError",
    502: "BadGateway",
    503: "ServiceUnavailable",
    504: "GatewayTimeout",
}


@dataclass
class App:
    """Everything a request handler needs; shared by all connection threads."""

    state: VaultState
    authority: Authority
    faults: FaultSet
    log: RequestLog
    throttle: Throttle
    info: Any  # Callable[[], dict]: the FakeVault's info()
    mint: Any  # Callable[[dict], dict]: the /_fake/access-token hook
    #: The tenant the 401 challenge names (the authority's unless a test makes the vault claim another).
    challenge_tenant: str

    def challenge(self) -> str:
        return (
            f'Bearer authorization="{self.authority.authority_host}/{self.challenge_tenant}", '
            f'resource="{self.authority.resource}"'
        )


class Handler(https.Handler):
    server_version = "kvfs-fakevault"
    max_body = MAX_BODY
    server: https.TLSServer
    _log_entry: dict[str, Any] | None = None

    # -- plumbing ----------------------------------------------------------------------------

    def _send(self, status: int, payload: Any = None, headers: dict[str, str] | None = None) -> int:
        data = b"" if payload is None else json.dumps(payload, separators=(",", ":")).encode("utf-8")
        if self._log_entry is not None:
            # Before the first byte goes out: a client that reads the log next must see the status.
            self.server.app.log.answered(self._log_entry, status)
            self._log_entry = None
        answer = {"x-ms-request-id": str(uuid.uuid4()), "Cache-Control": "no-cache", **(headers or {})}
        if payload is not None:
            answer["Content-Type"] = "application/json; charset=utf-8"
        self.send_answer(status, data, answer)
        return status

    # -- dispatch ------------------------------------------------------------------------------

    def dispatch(self) -> None:
        app = self.server.app
        raw_path = self.path
        split = urlsplit(raw_path)
        if split.path == "/_fake" or split.path.startswith("/_fake/"):
            try:
                body = self.read_body()
            except https.BodyError as exc:
                self._send(exc.status, {"error": {"code": "BadRequest", "message": str(exc)}})
                return
            status, payload = hooks.handle(
                self.command,
                split.path,
                body,
                log=app.log,
                faults=app.faults,
                throttle=app.throttle,
                info=app.info,
                mint=app.mint,
            )
            self._send(status, payload)
            return
        self._log_entry = app.log.arrived(self.command, raw_path)
        try:
            self._serve(app, raw_path, split.path, split.query)
        except (ConnectionError, TimeoutError, ssl.SSLError):
            self.close_connection = True
            raise
        except Exception:
            log.exception("fake vault: unexpected error serving %s %s", self.command, split.path)
            self.close_connection = True
            self._send(
                500, {"error": {"code": "InternalServerError", "message": "Unexpected error in the fake vault."}}
            )
        finally:
            self._log_entry = None

    def _serve(self, app: App, raw_path: str, path: str, query_string: str) -> int:
        try:
            body = self.read_body()
        except https.BodyError as exc:
            return self._send(exc.status, {"error": {"code": "BadParameter", "message": str(exc)}})
        segments = [unquote(s) for s in path.split("/")[1:]]
        is_vault = vaultapi.is_vault_path(segments)
        latency, fault = app.faults.take(raw_path)
        if latency > 0:
            time.sleep(latency)
        if fault is not None:
            return self._send_fault(app, fault, is_vault or not _is_authority(segments))
        if not is_vault and _is_authority(segments):
            return self._serve_authority(app, segments, body)
        reason = self._check_token(app)
        if reason is not None:
            return self._send(
                401, {"error": {"code": "Unauthorized", "message": reason}}, {"WWW-Authenticate": app.challenge()}
            )
        if not is_vault:
            return self._send(404, {"error": {"code": "NotFound", "message": f"No route for {path}."}})
        retry_after = app.throttle.admit()
        if retry_after is not None:
            return self._send(429, THROTTLED_BODY, {"Retry-After": str(retry_after)})
        query = dict(parse_qsl(query_string, keep_blank_values=True))
        try:
            status, payload = vaultapi.handle(app.state, self.command, segments, query, body)
        except FakeVaultError as exc:
            return self._send(exc.status, exc.body())
        return self._send(status, payload)

    def _check_token(self, app: App) -> str | None:
        """None when the request carries a valid token of ours, else the 401 message."""
        header = self.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return "AKV10000: Request is missing a Bearer or PoP token."
        reason = app.authority.check_access_token(token.strip())
        return f"AKV10022: Invalid token: {reason}." if reason else None

    def _serve_authority(self, app: App, segments: list[str], body: bytes) -> int:
        authority = app.authority
        if segments[:3] == ["common", "discovery", "instance"] and self.command == "GET":
            return self._send(*authority.instance_discovery())
        tenant = segments[0]
        if segments[1:] == ["v2.0", ".well-known", "openid-configuration"] and self.command == "GET":
            return self._send(*authority.openid_configuration(tenant))
        if segments[1:] == ["oauth2", "v2.0", "token"] and self.command == "POST":
            try:
                form = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
            except UnicodeDecodeError:
                form = {}
            return self._send(*authority.token(tenant, form))
        return self._send(
            405, {"error": "invalid_request", "error_description": f"{self.command} is not supported on this endpoint."}
        )

    def _send_fault(self, app: App, fault: Fault, vault_style: bool) -> int:
        status = fault.status or 500
        headers: dict[str, str] = {}
        if fault.retry_after is not None:
            ra = fault.retry_after
            headers["Retry-After"] = str(int(ra)) if float(ra).is_integer() else str(ra)
        message = f"Fault injected by the kvfs fake vault (HTTP {status})."
        if not vault_style:
            error = "temporarily_unavailable" if status >= 500 or status == 429 else "invalid_request"
            return self._send(status, {"error": error, "error_description": message}, headers)
        code = _FAULT_CODES.get(status, "FaultInjected")
        if status == 429:
            message = (
                "Request was not processed because too many requests were received. "
                "Reason: VaultRequestTypeLimitReached (fault injected by the kvfs fake vault)."
            )
        if status == 401:
            headers["WWW-Authenticate"] = app.challenge()
        body: dict[str, Any] = {"code": code, "message": message}
        if status == 403:
            body["innererror"] = {"code": "ForbiddenByRbac"}
        return self._send(status, {"error": body}, headers)


def _is_authority(segments: list[str]) -> bool:
    return segments[:3] == ["common", "discovery", "instance"] or (
        len(segments) == 4
        and segments[1:] in (["oauth2", "v2.0", "token"], ["v2.0", ".well-known", "openid-configuration"])
    )

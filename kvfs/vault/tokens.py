"""Vault tokens kept fresh by kvfs itself, in front of whichever azure-identity credential is in use.

azure-identity refreshes a token only when asked for one, swallows refresh errors silently until the
token expires, and answers a vault that rejects a still-valid token with the same cached token for up
to an hour. The keeper fixes all three:

- it refreshes at half the token's life, each time through a *new* credential made by the factory (no
  stale cache: a rewritten federated token file or a changed client secret is read again), and when
  that fails it logs the reason once, counts it, and keeps serving the still-valid token;
- ``invalidate()`` (the backend calls it when the vault answers 401) makes the next request fetch a
  new token at once;
- one request at a time per scope and tenant: concurrent first requests fetch one token.

It compares the tenant a vault's challenge names with the class's, so a wrong tenantID is one line.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from azure.core.credentials import AccessToken, AccessTokenInfo, TokenCredential, TokenRequestOptions
from azure.core.exceptions import ClientAuthenticationError

log = logging.getLogger(__name__)

_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
#: A token with less than this share of its life left is replaced before it is used (at most 60 s).
EXPIRY_SHARE = 0.1


@dataclass
class TokenStats:
    """What metrics and the readiness report show about tokens."""

    refreshes: int = 0
    refresh_failures: int = 0
    last_error: str = ""  # the latest refresh failure, one line; "" once a refresh succeeds
    expires_on: float | None = None  # of the token handed out last

    def seconds_left(self) -> float | None:
        return None if self.expires_on is None else self.expires_on - time.time()


@dataclass
class _Held:
    token: AccessTokenInfo
    issued: float
    next_attempt: float = 0.0  # no proactive refresh before this (after a failed one)
    failures: int = 0

    @property
    def lifetime(self) -> float:
        return max(1.0, self.token.expires_on - self.issued)

    def refresh_due(self, now: float) -> bool:
        return now >= self.issued + self.lifetime / 2 and now >= self.next_attempt

    def must_replace(self, now: float) -> bool:
        return now >= self.token.expires_on - min(60.0, self.lifetime * EXPIRY_SHARE)


@dataclass
class _Slot:
    lock: threading.Lock = field(default_factory=threading.Lock)
    held: _Held | None = None


class TokenKeeper(TokenCredential):
    """A TokenCredential (and SupportsTokenInfo) that the SDK clients share."""

    def __init__(
        self,
        factory: Callable[[], Any],
        *,
        tenant_id: str,
        explain: Callable[[Exception], str],
        fingerprint: Callable[[], object] = lambda: None,
    ) -> None:
        """``factory`` makes a new azure-identity credential; ``explain`` turns its errors into one line
        that says what to fix; ``fingerprint`` changes when the credential's inputs do (secret files)."""
        self._factory = factory
        self._tenant_id = tenant_id
        self._explain = explain
        self._fingerprint = fingerprint
        self._seen_fingerprint = fingerprint()
        self._slots: dict[tuple[Any, ...], _Slot] = {}
        self._slots_lock = threading.Lock()
        self._current: Any = None
        self._invalid = 0  # bumped by invalidate(); a token issued before is replaced on next use
        self.stats = TokenStats()

    # -- the SDK's side ------------------------------------------------------------------------

    def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        options: TokenRequestOptions = {"enable_cae": enable_cae}
        if claims:
            options["claims"] = claims
        if tenant_id:
            options["tenant_id"] = tenant_id
        info = self.get_token_info(*scopes, options=options)
        return AccessToken(info.token, info.expires_on)

    def get_token_info(self, *scopes: str, options: TokenRequestOptions | None = None) -> AccessTokenInfo:
        options = dict(options or {})  # type: ignore[assignment]
        challenge_tenant = options.pop("tenant_id", None)  # type: ignore[misc]
        self._check_tenant(challenge_tenant)
        if challenge_tenant and not self._tenant_id:  # no tenant configured (--vault): the vault's own
            options["tenant_id"] = challenge_tenant
        claims = options.get("claims")
        key = (scopes, bool(options.get("enable_cae")), options.get("tenant_id"))
        slot = self._slot(key)
        with slot.lock:
            now = time.time()
            held = slot.held
            if self._inputs_changed():
                held = slot.held = None
            if claims or held is None or held.must_replace(now) or held.issued < self._invalid:
                slot.held = self._request(scopes, options, required=True)
            elif held.refresh_due(now):
                fresh = self._request(scopes, options, required=False)
                if fresh is not None:
                    slot.held = fresh
                else:
                    held.failures += 1
                    pause = min(30.0, max(1.0, held.lifetime / 10)) * min(8, 2 ** (held.failures - 1))
                    held.next_attempt = now + pause
            assert slot.held is not None
            self.stats.expires_on = slot.held.token.expires_on
            return slot.held.token

    def close(self) -> None:
        if self._current is not None and hasattr(self._current, "close"):
            self._current.close()

    # -- kvfs's side ---------------------------------------------------------------------------

    def invalidate(self) -> None:
        """The vault refused a token: the next request fetches a new one."""
        self._invalid = time.time() + 1e-6

    # -- internals -----------------------------------------------------------------------------

    def _slot(self, key: tuple[Any, ...]) -> _Slot:
        with self._slots_lock:
            return self._slots.setdefault(key, _Slot())

    def _inputs_changed(self) -> bool:
        current = self._fingerprint()
        if current != self._seen_fingerprint:
            self._seen_fingerprint = current
            log.info("the credential's inputs changed: fetching a new token")
            return True
        return False

    def _check_tenant(self, challenge_tenant: str | None) -> None:
        """The vault's challenge names its tenant; a GUID that differs from the class's is a wrong tenantID."""
        if (
            challenge_tenant
            and _GUID.fullmatch(challenge_tenant)
            and _GUID.fullmatch(self._tenant_id)
            and challenge_tenant.lower() != self._tenant_id.lower()
        ):
            raise ClientAuthenticationError(
                f"the vault belongs to tenant {challenge_tenant}, but the class's tenantID is {self._tenant_id}: "
                "set tenantID to the vault's tenant"
            )

    def _request(self, scopes: tuple[str, ...], options: dict[str, Any], *, required: bool) -> _Held | None:
        """A token from a new credential. Required: failures raise (one line). Proactive: they are
        logged once per distinct reason and counted, and None says "keep the old one"."""
        credential = self._factory()
        issued = time.time()
        try:
            if hasattr(credential, "get_token_info"):
                token = credential.get_token_info(*scopes, options=options)
            else:
                cae = options.get("enable_cae", False)
                legacy = credential.get_token(*scopes, claims=options.get("claims"), enable_cae=cae)
                token = AccessTokenInfo(legacy.token, legacy.expires_on)
        except Exception as exc:
            _close(credential)
            reason = self._explain(exc)
            self.stats.refresh_failures += 1
            if reason != self.stats.last_error:
                self.stats.last_error = reason
                if not required:
                    left = (self.stats.expires_on or issued) - issued
                    log.warning("token refresh failed; the current token is valid for %.0fs more: %s", left, reason)
            if required:
                raise ClientAuthenticationError(reason) from None
            return None
        previous, self._current = self._current, credential
        _close(previous)
        self.stats.refreshes += 1
        if self.stats.last_error:
            log.info("token refreshed again after %s", self.stats.last_error)
            self.stats.last_error = ""
        lifetime = token.expires_on - issued
        log.debug("new vault token, valid for %.0fs", lifetime, extra={"duration": round(time.time() - issued, 3)})
        # The SDK's policies ask again for every request once refresh_on has passed. From the start, then:
        # the keeper answers from memory, and so sees at once a half-life, an invalidation or changed inputs.
        return _Held(AccessTokenInfo(token.token, int(token.expires_on), refresh_on=int(issued)), issued)


def _close(credential: Any) -> None:
    if credential is not None and hasattr(credential, "close"):
        try:
            credential.close()
        except Exception:  # closing is housekeeping: never a reason to fail a token request
            log.debug("closing a credential failed", exc_info=True)

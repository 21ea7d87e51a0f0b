"""The ``/_fake/`` test hooks: request log, faults, throttle, server info and access tokens for stand-in tools
(an ``az`` run in another process). No authentication, no faults, not logged, never throttled."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from .faults import FaultSet
from .reqlog import RequestLog
from .throttle import Throttle

Response = tuple[int, Any]
Mint = Callable[[str | None, float | None], tuple[str, int]]


def _error(status: int, message: str) -> Response:
    return status, {"error": {"code": "BadRequest" if status == 400 else "NotFound", "message": message}}


def _mint(body: bytes, mint: Mint) -> Response:
    """``POST /_fake/access-token`` ``{"client_id"?: str, "lifetime"?: seconds}``."""
    try:
        spec = json.loads(body or b"{}")
    except (ValueError, UnicodeDecodeError):
        return _error(400, "the body must be a JSON object")
    if not isinstance(spec, dict):
        return _error(400, "the body must be a JSON object")
    unknown = sorted(set(spec) - {"client_id", "lifetime"})
    if unknown:
        return _error(400, f"unknown field(s) {', '.join(unknown)}; allowed: client_id, lifetime")
    client_id, lifetime = spec.get("client_id"), spec.get("lifetime")
    if client_id is not None and not isinstance(client_id, str):
        return _error(400, "'client_id' must be a string")
    if lifetime is not None and (isinstance(lifetime, bool) or not isinstance(lifetime, int | float)):
        return _error(400, "'lifetime' must be a number of seconds")
    token, expires_on = mint(client_id, lifetime)
    return 200, {"access_token": token, "expires_on": expires_on}


def _set_throttle(body: bytes, throttle: Throttle) -> Response:
    """``PUT /_fake/throttle`` ``{"budget": int, "window": seconds}``: a fresh budget; answers the stats."""
    try:
        spec = json.loads(body or b"null")
    except (ValueError, UnicodeDecodeError):
        spec = None
    if not isinstance(spec, dict):
        return _error(400, 'the throttle must be a JSON object like {"budget": 4000, "window": 10}')
    unknown = sorted(set(spec) - {"budget", "window"})
    if unknown:
        return _error(400, f"unknown field(s) {', '.join(unknown)}; allowed: budget, window")
    try:
        throttle.set_limit(spec.get("budget"), spec.get("window", 10.0))
    except ValueError as exc:
        return _error(400, str(exc))
    return 200, throttle.stats()


def handle(
    method: str,
    path: str,
    body: bytes,
    *,
    log: RequestLog,
    faults: FaultSet,
    throttle: Throttle,
    info: Callable[[], dict[str, Any]],
    mint: Mint,
) -> Response:
    """Serve ``/_fake/...``; ``path`` is the path without the query string."""
    route = path.rstrip("/")
    if route == "/_fake/requests":
        if method == "GET":
            return 200, log.snapshot()
        if method == "DELETE":
            log.clear()
            return 204, None
    elif route == "/_fake/faults":
        if method == "GET":
            return 200, faults.list()
        if method == "DELETE":
            faults.clear()
            return 204, None
        if method == "POST":
            try:
                spec = json.loads(body or b"null")
            except (ValueError, UnicodeDecodeError):
                return _error(400, "the fault must be a JSON object")
            try:
                return 201, faults.add(spec)
            except ValueError as exc:
                return _error(400, str(exc))
    elif route.startswith("/_fake/faults/") and method == "DELETE":
        ident = route.rsplit("/", 1)[1]
        if ident.isdigit() and faults.remove(int(ident)):
            return 204, None
        return _error(404, f"no fault with id {ident}")
    elif route == "/_fake/throttle":
        if method == "GET":
            return 200, throttle.stats()
        if method == "PUT":
            return _set_throttle(body, throttle)
        if method == "DELETE":
            throttle.clear_limit()
            return 204, None
    elif route == "/_fake/info" and method == "GET":
        return 200, info()
    elif route == "/_fake/access-token":
        if method == "POST":
            return _mint(body, mint)
    else:
        return _error(404, f"no test hook at {path}; see kvfs/fakevault/README.md")
    return 405, {"error": {"code": "MethodNotAllowed", "message": f"{method} is not allowed on {path}"}}

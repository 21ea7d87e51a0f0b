"""The request handler in front of the router (on the fake vault's ``https.TLSServer``).

For every request: log it, let an injected fault answer,
authenticate the bearer token, then route. Answers are JSON with ``Content-Type: application/json``
exactly (lightkube only turns such answers into ``ApiError``). Nothing logged carries a token or a body.
"""

from __future__ import annotations

import json
import logging
import ssl
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from kvfs.fakevault import https

from .errors import KubeError, internal, unauthorized
from .faults import FaultSet
from .rbac import AccessControl
from .reqlog import RequestLog
from .routes import Request, Response, Router

log = logging.getLogger("tests.fakekube")

#: The real server refuses request bodies over 3 MiB.
MAX_BODY = 3 * 1024 * 1024


@dataclass
class App:
    """Everything a connection thread needs; shared by all of them."""

    router: Router
    access: AccessControl
    faults: FaultSet
    log: RequestLog


class Handler(https.Handler):
    server_version = "fake-kube-apiserver"
    max_body = MAX_BODY
    server: https.TLSServer

    def _read_body(self) -> bytes:
        try:
            return self.read_body()
        except https.BodyError as exc:
            if exc.status == 413:
                raise KubeError(
                    413, "RequestEntityTooLarge", f"Request entity too large: limit is {MAX_BODY}"
                ) from None
            raise KubeError(400, "BadRequest", str(exc)) from None

    def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8") + b"\n"
        answer = {
            "Audit-Id": str(uuid.uuid4()),
            "Cache-Control": "no-cache, private",
            "Content-Type": "application/json",
        }
        self.send_answer(status, data, {**answer, **(headers or {})})

    def _answer(self, app: App, path: str, query: dict[str, str], entry: dict[str, Any]) -> Response:
        """Fault, authentication, routing: the response, or a ``KubeError`` to send instead."""
        body = self._read_body()
        fault = app.faults.take(self.path)
        if fault is not None:
            raise fault
        user = app.access.authenticate(self.headers.get("Authorization"))
        if user is None:
            raise unauthorized()
        app.log.update(entry, user=user)
        return app.router.handle(Request(self.command, unquote(path), query, self.headers, body), user)

    def dispatch(self) -> None:
        app = self.server.app
        split = urlsplit(self.path)
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        entry = app.log.arrived(self.command, split.path, query, self.headers.get("Content-Type"))
        try:
            response = self._answer(app, split.path, query, entry)
            status, payload, headers = response.status, response.body, response.headers
        except KubeError as exc:
            status, payload, headers = exc.code, exc.body(), exc.headers
        except (ConnectionError, TimeoutError, ssl.SSLError):
            self.close_connection = True
            raise
        except Exception:
            log.exception("fake kube API: unexpected error serving %s %s", self.command, split.path)
            self.close_connection = True
            error = internal("Internal error occurred: unexpected error in the fake Kubernetes API")
            status, payload, headers = error.code, error.body(), {}
        # Before the first byte goes out: a client that reads the log next must see the status.
        app.log.update(entry, status=status)
        log.debug("%s %s -> %d (%s)", self.command, split.path, status, entry["user"])
        self._send(status, payload, headers)

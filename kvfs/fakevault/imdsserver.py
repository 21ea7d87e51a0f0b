"""The fake IMDS over plain HTTP (on ``https.PlainServer``): logged in the vault's request log and subject to
its faults, like every vault and authority request; no ``/_fake/`` hooks on this port."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from . import https
from .faults import Fault, FaultSet
from .imds import TOKEN_PATH, Imds
from .reqlog import RequestLog

log = logging.getLogger("kvfs.fakevault")


@dataclass
class ImdsApp:
    imds: Imds
    faults: FaultSet
    log: RequestLog


class ImdsHandler(https.Handler):
    server_version = "IMDS/150.870.65.1544"
    max_body = 64 * 1024
    server: https.PlainServer
    _log_entry: dict[str, Any] | None = None

    def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload, separators=(",", ":")).encode("utf-8")
        if self._log_entry is not None:
            self.server.app.log.answered(self._log_entry, status)
            self._log_entry = None
        self.send_answer(status, data, {**(headers or {}), "Content-Type": "application/json; charset=utf-8"})

    def dispatch(self) -> None:
        app: ImdsApp = self.server.app
        self._log_entry = app.log.arrived(self.command, self.path)
        try:
            self._serve(app)
        except (ConnectionError, TimeoutError):
            self.close_connection = True
            raise
        except Exception:
            log.exception("fake IMDS: unexpected error serving %s %s", self.command, self.path)
            self.close_connection = True
            self._send(500, {"error": "internal_error", "error_description": "Unexpected error in the fake IMDS."})
        finally:
            self._log_entry = None

    def _serve(self, app: ImdsApp) -> None:
        try:
            self.read_body()
        except https.BodyError as exc:
            self._send(exc.status, {"error": "invalid_request", "error_description": str(exc)})
            return
        latency, fault = app.faults.take(self.path)
        if latency > 0:
            time.sleep(latency)
        if fault is not None:
            self._send_fault(fault)
            return
        split = urlsplit(self.path)
        if split.path.rstrip("/") != TOKEN_PATH:
            self._send(404, {"error": "not_found", "error_description": f"No route for {split.path}."})
            return
        if self.command != "GET":
            self._send(405, {"error": "method_not_allowed", "error_description": "Only GET requests are supported."})
            return
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        headers = {key.lower(): value for key, value in self.headers.items()}
        self._send(*app.imds.token(query, headers))

    def _send_fault(self, fault: Fault) -> None:
        status = fault.status or 500
        headers: dict[str, str] = {}
        if fault.retry_after is not None:
            ra = fault.retry_after
            headers["Retry-After"] = str(int(ra)) if float(ra).is_integer() else str(ra)
        try:
            name = HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
        except ValueError:
            name = "fault_injected"
        message = f"Fault injected by the kvfs fake vault (HTTP {status})."
        self._send(status, {"error": name, "error_description": message}, headers)

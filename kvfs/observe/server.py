"""``--metrics-addr``: one HTTP listener (hypercorn under trio) for ``/metrics``, ``/healthz`` and ``/readyz``
(what the probes check: ``health.py``)."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import trio

from ..errors import ConfigError, KvfsError
from .health import Health

if TYPE_CHECKING:
    from .metrics import Metrics

log = logging.getLogger(__name__)

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def parse_listen_address(text: str) -> str:
    """``HOST:PORT`` (``[::1]:8898`` for IPv6) as hypercorn binds it; a ConfigError naming the option otherwise."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"--metrics-addr {text!r}: expected HOST:PORT, e.g. 0.0.0.0:8898")
    return text


@dataclass
class Endpoints:
    """The ASGI application behind the listener."""

    metrics: Metrics
    health: Health

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        if scope["method"] not in ("GET", "HEAD"):
            await _answer(send, 405, b"method not allowed\n", "text/plain; charset=utf-8", scope)
            return
        path = scope["path"]
        if path == "/metrics":
            from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

            await _answer(send, 200, generate_latest(self.metrics.registry), CONTENT_TYPE_LATEST, scope)
        elif path == "/healthz":
            alive, message = await self.health.liveness()
            await _answer(send, 200 if alive else 503, f"{message}\n".encode(), "text/plain; charset=utf-8", scope)
        elif path == "/readyz":
            ready, body = self.health.readiness()
            await _answer(send, 200 if ready else 503, json.dumps(body).encode() + b"\n", "application/json", scope)
        else:
            await _answer(send, 404, b"not found: try /metrics, /healthz or /readyz\n", "text/plain", scope)


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _answer(send: Send, status: int, body: bytes, content_type: str, scope: dict[str, Any]) -> None:
    headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})


async def serve_endpoints(
    address: str,
    endpoints: Endpoints,
    stop: trio.Event,
    *,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Listen until ``stop`` is set; ``task_status.started`` gives the bound URL (port 0 picks one)."""
    from hypercorn.config import Config
    from hypercorn.trio import serve

    config = Config()
    config.bind = [address]
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")  # its warnings show; "Running on ..." does not
    config.graceful_timeout = 1.0

    async def run(*, task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED) -> None:
        await serve(endpoints, config, shutdown_trigger=stop.wait, task_status=task_status)  # type: ignore[arg-type]

    async with trio.open_nursery() as nursery:
        try:
            binds = await nursery.start(run)
        except* OSError as group:  # hypercorn binds inside its own nursery: the error comes in a group
            reason: BaseException = group
            while isinstance(reason, BaseExceptionGroup):
                reason = reason.exceptions[0]
            detail = reason.strerror if isinstance(reason, OSError) and reason.strerror else reason
            raise KvfsError(f"--metrics-addr {address}: cannot listen: {detail}") from None
        url = binds[0] if binds else f"http://{address}"
        log.info("metrics and health on %s (/metrics, /healthz, /readyz)", url, extra={"url": url})
        task_status.started(url)

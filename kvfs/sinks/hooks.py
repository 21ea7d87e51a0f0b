"""What runs after a swap: a command and/or an HTTP POST, as configmap-reload does for Kubernetes mounts.

Hooks run one at a time in the order of swaps, each bounded in time; a failure is logged and never
stops kvfs. They receive the changed aliases, never any content.
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path

import requests
import trio

from ..content.files import ChangeSet

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HookOptions:
    exec_command: str | None = None  # run by /bin/sh -c, with KVFS_CHANGED (and KVFS_MOUNTPOINT when mounted) set
    webhook_url: str | None = None  # POSTed a JSON body {"changed": [...], "mountpoint": ..., "generation": n}
    timeout: float = 30.0

    @property
    def enabled(self) -> bool:
        return bool(self.exec_command or self.webhook_url)


@dataclass(frozen=True)
class ChangeEvent:
    aliases: tuple[str, ...]
    generation: int


class ChangeHooks:
    """A sink: a queue of change events and the task that runs the hooks for each, in order.

    Publishing only queues, so a slow hook never delays a swap or the sinks after it.
    """

    name = "hooks"

    def __init__(self, options: HookOptions, mountpoint: Path | None) -> None:
        self.options = options
        self.mountpoint = mountpoint
        self._send, self._receive = trio.open_memory_channel[ChangeEvent](math.inf)
        self.runs = 0
        self.failures = 0

    async def publish(self, change: ChangeSet) -> None:
        """Hooks run for changes, not for the initial load."""
        if not change.initial:
            self.notify(list(change.changed), change.generation)

    def notify(self, aliases: list[str], generation: int) -> None:
        """Queue one event per swap (never blocks the caller)."""
        if self.options.enabled:
            self._send.send_nowait(ChangeEvent(tuple(sorted(aliases)), generation))

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        async for event in self._receive:
            if self.options.exec_command:
                await self._exec(event)
            if self.options.webhook_url:
                await self._post(event)

    async def _exec(self, event: ChangeEvent) -> None:
        env = {**os.environ, "KVFS_CHANGED": " ".join(event.aliases)}
        if self.mountpoint is not None:
            env["KVFS_MOUNTPOINT"] = str(self.mountpoint)
        self.runs += 1
        with trio.move_on_after(self.options.timeout) as scope:
            try:
                result = await trio.run_process(["/bin/sh", "-c", self.options.exec_command], env=env, check=False)
            except OSError as exc:
                self.failures += 1
                log.error("--on-change-exec could not start: %s", exc)
                return
        if scope.cancelled_caught:
            self.failures += 1
            log.error("--on-change-exec did not finish within %.0fs and was stopped", self.options.timeout)
        elif result.returncode != 0:
            self.failures += 1
            log.error("--on-change-exec exited with %d (changed: %s)", result.returncode, ", ".join(event.aliases))

    async def _post(self, event: ChangeEvent) -> None:
        mountpoint = None if self.mountpoint is None else str(self.mountpoint)
        body = {"changed": list(event.aliases), "mountpoint": mountpoint, "generation": event.generation}
        self.runs += 1
        try:
            response = await trio.to_thread.run_sync(self._post_sync, json.dumps(body))
        except requests.RequestException as exc:
            self.failures += 1
            log.error("--on-change-webhook %s failed: %s", self.options.webhook_url, type(exc).__name__)
            return
        if response.status_code >= 400:
            self.failures += 1
            log.error("--on-change-webhook %s answered %d", self.options.webhook_url, response.status_code)

    def _post_sync(self, body: str) -> requests.Response:
        return requests.post(
            self.options.webhook_url or "",
            data=body,
            headers={"Content-Type": "application/json"},
            timeout=self.options.timeout,
        )

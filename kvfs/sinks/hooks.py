"""What runs after a swap: a command and/or an HTTP POST, as configmap-reload does for Kubernetes mounts.

Hooks run one at a time in the order of swaps, each bounded in time; a failure is logged and never
stops kvfs. They receive the changed aliases, never any content.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections import Counter
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
        self.outcomes: Counter[tuple[str, str]] = Counter()  # (exec|webhook, ok|failed|timeout) → runs

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
        started = time.monotonic()
        with trio.move_on_after(self.options.timeout) as scope:
            try:
                result = await trio.run_process(["/bin/sh", "-c", self.options.exec_command], env=env, check=False)
            except OSError as exc:
                self._count("exec", "failed", started, "--on-change-exec could not start: %s", exc)
                return
        if scope.cancelled_caught:
            self._count(
                "exec", "timeout", started, "--on-change-exec did not finish within %.0fs and was stopped",
                self.options.timeout,
            )  # fmt: skip
        elif result.returncode != 0:
            self._count(
                "exec", "failed", started, "--on-change-exec exited with %d (changed: %s)",
                result.returncode, ", ".join(event.aliases),
            )  # fmt: skip
        else:
            self._count("exec", "ok", started)

    async def _post(self, event: ChangeEvent) -> None:
        mountpoint = None if self.mountpoint is None else str(self.mountpoint)
        body = {"changed": list(event.aliases), "mountpoint": mountpoint, "generation": event.generation}
        started = time.monotonic()
        try:
            response = await trio.to_thread.run_sync(self._post_sync, json.dumps(body))
        except requests.RequestException as exc:
            url = self.options.webhook_url
            self._count("webhook", "failed", started, "--on-change-webhook %s failed: %s", url, type(exc).__name__)
            return
        if response.status_code >= 400:
            url = self.options.webhook_url
            self._count("webhook", "failed", started, "--on-change-webhook %s answered %d", url, response.status_code)
        else:
            self._count("webhook", "ok", started)

    def _count(self, hook: str, outcome: str, started: float, error: str = "", *args: object) -> None:
        """One run of a hook: counted by outcome; a failure logged as one line with its duration."""
        self.outcomes[(hook, outcome)] += 1
        duration = round(time.monotonic() - started, 3)
        if error:
            log.error(error, *args, extra={"hook": hook, "duration": duration})
        else:
            log.debug("--on-change-%s ran in %.3fs", hook, duration, extra={"hook": hook, "duration": duration})

    @property
    def runs(self) -> int:
        return sum(self.outcomes.values())

    @property
    def failures(self) -> int:
        return sum(n for (_, outcome), n in self.outcomes.items() if outcome != "ok")

    def _post_sync(self, body: str) -> requests.Response:
        return requests.post(
            self.options.webhook_url or "",
            data=body,
            headers={"Content-Type": "application/json"},
            timeout=self.options.timeout,
        )

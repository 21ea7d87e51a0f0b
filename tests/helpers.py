"""Shared test helpers: SecretProviderClass text, polling with a deadline, running kvfs mounts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import IO, TypeVar

import yaml

T = TypeVar("T")


def wait_for(
    condition: Callable[[], T], *, timeout: float = 20.0, interval: float = 0.02, what: str = "condition"
) -> T:
    """Poll until ``condition()`` is truthy; fail with ``what`` once the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def provider_class_yaml(
    objects: Iterable[Mapping[str, object]],
    *,
    tenant_id: str,
    client_id: str = "",
    keyvault_name: str = "kvfs-test",
    extra_parameters: Mapping[str, str] | None = None,
    secret_objects: list[dict[str, object]] | None = None,
) -> str:
    """A SecretProviderClass in the provider's format: ``objects`` is an ``array:`` of YAML strings."""
    lines = [
        "apiVersion: secrets-store.csi.x-k8s.io/v1",
        "kind: SecretProviderClass",
        "metadata:",
        "  name: test",
        "spec:",
        "  provider: azure",
        "  parameters:",
        f"    keyvaultName: {keyvault_name}",
        f'    tenantID: "{tenant_id}"',
    ]
    if client_id:
        lines.append(f'    clientID: "{client_id}"')
    for key, value in (extra_parameters or {}).items():
        lines.append(f'    {key}: "{value}"')
    lines += ["    objects: |", "      array:"]
    for obj in objects:
        first = True
        for key, value in obj.items():
            prefix = "        - |\n          " if first else "          "
            lines.append(f'{prefix}{key}: "{value}"' if isinstance(value, str) else f"{prefix}{key}: {value}")
            first = False
    if secret_objects:  # under spec:, beside parameters
        dumped = yaml.safe_dump({"secretObjects": secret_objects}, sort_keys=False)
        lines += ["  " + line for line in dumped.splitlines()]
    return "\n".join(lines) + "\n"


class KvfsProcess:
    """``kvfs mount`` (or another long-running command) in a subprocess, the way a pod runs it.

    Its output is read as it comes (``stdout``/``stderr`` grow while it runs), so a test can wait
    for a log line without stopping the daemon.
    """

    def __init__(
        self,
        args: list[str],
        env: Mapping[str, str],
        mountpoint: Path | None = None,
        *,
        python: list[str] | None = None,
        user: int | None = None,
    ) -> None:
        """``python``: the interpreter command (default this one); ``user``: run as that uid (and gid)."""
        self.mountpoint = mountpoint
        identity = {} if user is None else {"user": user, "group": user, "extra_groups": [], "cwd": "/"}
        self.process = subprocess.Popen(
            [*(python or [sys.executable]), "-m", "kvfs", *args],
            env=dict(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            **identity,  # type: ignore[call-overload]
        )
        self._out: list[str] = []
        self._err: list[str] = []
        self._readers = [
            threading.Thread(target=_drain, args=(self.process.stdout, self._out), daemon=True),
            threading.Thread(target=_drain, args=(self.process.stderr, self._err), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    @property
    def stdout(self) -> str:
        return "".join(self._out)

    @property
    def stderr(self) -> str:
        return "".join(self._err)

    def wait_ready(self, timeout: float = 30.0) -> None:
        assert self.mountpoint is not None, "wait_ready is for mounts; use wait_for_log for other commands"
        mountpoint = self.mountpoint

        def ready() -> bool:
            if self.process.poll() is not None:
                self._finish(timeout=5)
                raise AssertionError(f"kvfs exited with {self.process.returncode} before mounting:\n{self.stderr}")
            return is_live_mount(mountpoint)

        wait_for(ready, timeout=timeout, what=f"{mountpoint} to be mounted")

    def wait_for_log(self, text: str, timeout: float = 15.0) -> None:
        """Until ``text`` appears on the daemon's stderr (failing at once, with the log, if it exits first)."""

        def logged() -> bool:
            if text in self.stderr:
                return True
            if self.process.poll() is not None:
                self._finish(timeout=5)
                if text in self.stderr:
                    return True
                raise AssertionError(
                    f"kvfs exited with {self.process.returncode} before logging {text!r}:\n{self.stderr}"
                )
            return False

        wait_for(logged, timeout=timeout, what=f"{text!r} in the log")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self._finish(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self._finish(timeout=5)
            raise

    def wait_exit(self, timeout: float = 60.0) -> int:
        return self._finish(timeout)

    def _finish(self, timeout: float) -> int:
        code = self.process.wait(timeout=timeout)
        for reader in self._readers:
            reader.join(timeout=5)
        return code


def _drain(stream: IO[str] | None, into: list[str]) -> None:
    if stream is not None:
        for line in stream:
            into.append(line)
        stream.close()


def is_live_mount(path: Path) -> bool:
    """Mounted and answering (a stale mount still looks mounted to ismount, from the kernel's cache)."""
    return os.path.ismount(path) and not _is_stale(path)


def force_unmount(mountpoint: Path) -> None:
    """Test clean-up: never leave a mount behind, whatever the test did."""
    if os.path.ismount(mountpoint) or _is_stale(mountpoint):
        subprocess.run(["fusermount3", "-u", "-z", str(mountpoint)], check=False, capture_output=True)


def _is_stale(path: Path) -> bool:
    try:
        os.listdir(path)
    except OSError as exc:
        return exc.errno == 107  # ENOTCONN
    return False

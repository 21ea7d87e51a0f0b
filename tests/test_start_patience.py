"""Start-up against a vault that throttles or fails for a while (real SDK, fake vault, no mount)."""

from __future__ import annotations

import logging
import time

import pytest

from kvfs.config import ObjectSpec
from kvfs.engine.loader import load_all
from kvfs.errors import ObjectNotFound, VaultUnavailable
from kvfs.fakevault import FakeVault
from kvfs.vault.backend import BackendSettings, VaultBackend


@pytest.fixture
def backend(vault: FakeVault, credential) -> VaultBackend:
    settings = BackendSettings(vault_url=vault.vault_url, emulator=True, ca_file=str(vault.ca_file))
    return VaultBackend(settings, credential)


def answers(vault: FakeVault, name: str) -> list[int]:
    return [r["status"] for r in vault.requests() if r["path"].startswith(f"/secrets/{name}/")]


SPECS = [ObjectSpec(0, "a", "secret", "a"), ObjectSpec(1, "b", "secret", "b")]


async def test_throttling_at_start_is_waited_out_after_retry_after(
    vault: FakeVault, backend: VaultBackend, caplog
) -> None:
    vault.set_secret("a", "A")
    vault.set_secret("b", "B")
    vault.add_fault(status=429, retry_after=0.5, count=4, path=r"^/secrets/b/")  # more than the SDK's 3 retries
    caplog.set_level(logging.INFO)
    started = time.monotonic()
    loaded = await load_all(backend, SPECS, start_timeout=60)
    assert not loaded.failures
    assert {f.path: f.data for f in loaded.all_files()} == {"a": b"A", "b": b"B"}
    assert answers(vault, "b") == [429] * 4 + [200]
    assert time.monotonic() - started >= 4 * 0.5  # every wait was at least the Retry-After
    warnings = [r.getMessage() for r in caplog.records if "retrying with backoff" in r.getMessage()]
    assert len(warnings) == 1 and "--start-timeout" in warnings[0]  # said once, not per retry
    assert "loaded after 4 retries (4 after 429)" in caplog.text


async def test_past_the_start_timeout_the_failure_is_reported(vault: FakeVault, backend: VaultBackend) -> None:
    vault.set_secret("a", "A")
    vault.set_secret("b", "B")
    vault.add_fault(status=503, path=r"^/secrets/b/")
    started = time.monotonic()
    loaded = await load_all(backend, SPECS, start_timeout=3)
    assert isinstance(loaded.failures[(1, "")], VaultUnavailable)
    assert (0, "") not in loaded.failures
    took = time.monotonic() - started
    assert 1 <= took <= 3.5, took  # retried, and gave up before the deadline rather than after it
    assert len(answers(vault, "b")) >= 2


async def test_permanent_failures_are_not_retried(vault: FakeVault, backend: VaultBackend) -> None:
    vault.set_secret("a", "A")
    loaded = await load_all(backend, SPECS, start_timeout=60)
    assert isinstance(loaded.failures[(1, "")], ObjectNotFound)
    assert answers(vault, "b") == [404]

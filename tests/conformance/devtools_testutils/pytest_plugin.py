"""pytest plugin for the SDK suites (load with ``-p devtools_testutils.pytest_plugin``).

It does what the SDK repository's root conftest does (the ``live_test_only`` / ``playback_test_only`` markers)
and can cap sleeps: the suites wait seconds between polls for a real vault's replication, which a fake that
answers at once does not need, and a closed port in the control run would otherwise cost full retry back-offs.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from devtools_testutils import is_live, is_live_and_not_recording, test_proxy

__all__ = ["test_proxy"]  # a fixture: some suites' conftest asks for it without importing it


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--max-sleep",
        type=float,
        default=None,
        help="cap every time.sleep / asyncio.sleep at this many seconds (default: no cap)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "live_test_only: run in live mode only")
    config.addinivalue_line("markers", "playback_test_only: run in playback mode only")
    cap = config.getoption("--max-sleep")
    if cap is not None:
        _cap_sleeps(cap)


def _cap_sleeps(cap: float) -> None:
    real_sleep = time.sleep
    real_async_sleep = asyncio.sleep

    def capped_sleep(seconds: float) -> None:
        real_sleep(min(seconds, cap))

    async def capped_async_sleep(delay: float, result: Any = None) -> Any:
        return await real_async_sleep(min(delay, cap), result)

    time.sleep = capped_sleep
    asyncio.sleep = capped_async_sleep  # type: ignore[assignment]


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("live_test_only") and not is_live():
        pytest.skip("live test only")
    if item.get_closest_marker("playback_test_only") and is_live_and_not_recording():
        pytest.skip("playback test only")

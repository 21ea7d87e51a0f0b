"""Async half of the stand-in framework: ``recorded_by_proxy_async``."""

from __future__ import annotations

import functools
from typing import Any

from devtools_testutils import Func, trim_kwargs

__all__ = ["recorded_by_proxy_async"]


def recorded_by_proxy_async(test_func: Func) -> Func:
    """Pass-through, as ``recorded_by_proxy``; stays a coroutine function so pytest-asyncio runs it."""

    @functools.wraps(test_func)
    async def record_wrap(*args: Any, **kwargs: Any) -> Any:
        return await test_func(*args, **trim_kwargs(test_func, kwargs))

    return record_wrap

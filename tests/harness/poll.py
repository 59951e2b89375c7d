"""Waiting on the event loop for something another task or process makes true."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


async def until(check: Callable[[], bool], timeout: float) -> None:
    """Poll ``check`` every 50 ms on the event loop until it holds (fails after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.05)

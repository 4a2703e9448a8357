"""Waiting in tests for a condition, with a deadline, instead of sleeping a fixed time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def until(
    probe: Callable[[], Awaitable[T]], *, timeout: float, what: str, interval: float = 0.05
) -> T:
    """Call ``probe`` until it returns something truthy, and return that.

    For conditions nobody announces (a process listening, a pending-entries list
    filling up); raises ``TimeoutError`` naming ``what`` after ``timeout`` seconds.
    """
    try:
        async with asyncio.timeout(timeout):
            while True:
                result = await probe()
                if result:
                    return result
                await asyncio.sleep(interval)  # poll interval, not synchronisation
    except TimeoutError:
        raise TimeoutError(f"gave up after {timeout} s waiting for {what}") from None


async def next_until(
    items: AsyncIterator[T], accept: Callable[[T], bool], *, timeout: float, what: str
) -> T:
    """Consume ``items`` (e.g. subscription payloads) until one is accepted; return it."""
    last: T | None = None
    try:
        async with asyncio.timeout(timeout):
            while True:
                last = await anext(items)
                if accept(last):
                    return last
    except TimeoutError:
        raise TimeoutError(f"gave up after {timeout} s waiting for {what}; last: {last}") from None

"""What every part of :class:`server.state.store.Store` shares: the Redis client, the Lua
scripts it runs, the session idle time, the :class:`NotFound` error, and how numbers are
written to and read from Redis hashes."""

from __future__ import annotations

import redis.asyncio

from server.state.scripts import Scripts


class NotFound(LookupError):
    """No record with that id."""


class Part:
    """The state one :class:`~server.state.store.Store` shares among its parts (each part,
    e.g. :class:`server.state.events.Events`, holds the operations on one noun)."""

    redis: redis.asyncio.Redis
    scripts: Scripts
    # A participant session unused this long expires (each use starts it again).
    session_idle_s: float


def num(value: float) -> str:
    """A number as stored in a hash field or sent to a script (round-trips exactly)."""
    return repr(float(value))


def optional_float(raw: str | None) -> float | None:
    return float(raw) if raw else None


def pairs(flat: list[str]) -> dict[str, str]:
    """A hash from a script's flat field/value list."""
    return dict(zip(flat[::2], flat[1::2], strict=True))

"""What every captcha provider shares: the errors it raises and the accept-once guard."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

import redis.asyncio

from server.errors import ApiError
from server.state import keys

# A widget payload or provider token is a few hundred bytes (Turnstile's are at most 2048
# characters); anything much longer is not worth decoding.
MAX_PAYLOAD_CHARS = 8192


def required(payload: str | None) -> str:
    """The payload, or ``CAPTCHA_REQUIRED`` when there is none."""
    if payload is None or not payload.strip():
        raise ApiError(
            "CAPTCHA_REQUIRED",
            "expected a solved captcha with this request, but none was sent",
        )
    if len(payload) > MAX_PAYLOAD_CHARS:
        raise invalid(
            "malformed",
            f"expected a captcha payload of at most {MAX_PAYLOAD_CHARS} characters, "
            f"but it has {len(payload)}",
        )
    return payload.strip()


def invalid(reason: str, message: str, **details: Any) -> ApiError:
    """``CAPTCHA_INVALID`` with ``extensions.reason``: the page solves a fresh one."""
    return ApiError("CAPTCHA_INVALID", message, reason=reason, **details)


@dataclass(frozen=True)
class Ticket:
    """A captcha that passed every check but single use. Claiming it (``SET NX`` of
    ``key``, kept ``ttl_ms``) uses it up: with :func:`claim`, or inside the script that
    records what it admits (one round trip fewer;
    :meth:`server.state.store.Store.submit_with_queue`).
    """

    key: str
    ttl_ms: int


def ticket(token: str, ttl_s: float) -> Ticket:
    """The ticket of ``token``; ``ttl_s`` must outlive the token's own validity, after
    which the token is rejected as expired anyway."""
    digest = hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
    return Ticket(keys.captcha_used(digest), max(1000, math.ceil(ttl_s * 1000)))


async def claim(client: redis.asyncio.Redis, used: Ticket) -> None:
    """Use up a ticket; ``CAPTCHA_INVALID`` (reason ``replayed``) if it already was.

    One ``SET NX``: Redis runs it atomically, so of any number of concurrent requests
    carrying the same solved captcha exactly one gets through.
    """
    if not await client.set(used.key, "1", nx=True, px=used.ttl_ms):
        raise replayed()


def replayed() -> ApiError:
    """``CAPTCHA_INVALID`` for a captcha used before."""
    return invalid("replayed", "this captcha was already used; solve a new one")

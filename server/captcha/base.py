"""What every captcha provider shares: the errors it raises and the accept-once guard."""

from __future__ import annotations

import hashlib
import math
from typing import Any

import redis.asyncio

from server import keys
from server.errors import ApiError

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


async def accept_once(client: redis.asyncio.Redis, token: str, ttl_s: float) -> None:
    """Record ``token`` as used; ``CAPTCHA_INVALID`` (reason ``replayed``) if it already was.

    One ``SET NX``: Redis runs it atomically, so of any number of concurrent requests
    carrying the same solved captcha exactly one gets through. ``ttl_s`` must outlive the
    token's own validity, after which the token is rejected as expired anyway.
    """
    digest = hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
    fresh = await client.set(
        keys.captcha_used(digest), "1", nx=True, px=max(1000, math.ceil(ttl_s * 1000))
    )
    if not fresh:
        raise invalid("replayed", "this captcha was already used; solve a new one")

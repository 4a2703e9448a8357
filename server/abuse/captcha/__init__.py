"""The captcha on submit: one interface, several providers, chosen by settings.

``altcha`` (default) is self-hosted proof of work; ``turnstile``, ``hcaptcha`` and
``recaptcha`` are checked with the provider's siteverify endpoint; ``off`` accepts
everything and warns. Every solved captcha is accepted once.
"""

from __future__ import annotations

from typing import Any, Protocol

import httpx
import redis.asyncio

from server.abuse.captcha.altcha import AltchaVerifier, CaptchaSolveError, solve_altcha
from server.abuse.captcha.base import Ticket, claim
from server.abuse.captcha.off import OffVerifier
from server.abuse.captcha.siteverify import SiteverifyVerifier
from server.settings import Settings

__all__ = [
    "AltchaVerifier",
    "CaptchaSolveError",
    "CaptchaVerifier",
    "OffVerifier",
    "SiteverifyVerifier",
    "Ticket",
    "claim",
    "make_verifier",
    "solve_altcha",
]


class CaptchaVerifier(Protocol):
    """What the API needs from a captcha provider."""

    async def challenge(self) -> dict[str, Any] | None:
        """The JSON the page's widget needs, or None when the provider serves its own."""
        ...

    async def verify(self, payload: str | None, *, remote_ip: str | None) -> None:
        """Return if ``payload`` is a valid, unused solution; else raise ``ApiError``.

        ``CAPTCHA_REQUIRED`` for a missing or empty payload, ``CAPTCHA_INVALID`` (with
        ``extensions.reason``) for anything else that is not a clear, first-time yes.
        """
        ...

    async def check(self, payload: str | None, *, remote_ip: str | None) -> Ticket | None:
        """Everything :meth:`verify` checks but single use: return the :class:`Ticket`
        whose claim uses ``payload`` up (None: nothing to use up), or raise likewise.
        The caller must claim it before acting on the request."""
        ...


def make_verifier(
    settings: Settings,
    redis: redis.asyncio.Redis,
    http: httpx.AsyncClient | None = None,
) -> CaptchaVerifier:
    """The verifier for ``settings.captcha_provider``.

    ``http`` is used for siteverify calls; pass the app's shared client so connections
    are reused (without one, each verification opens its own).
    """
    provider = settings.captcha_provider
    if provider == "off":
        return OffVerifier()
    if provider == "altcha":
        return AltchaVerifier(
            secret_key=settings.secret_key,
            max_number=settings.captcha_max_number,
            expires_s=settings.captcha_expires_s,
            redis=redis,
        )
    return SiteverifyVerifier(
        provider=provider,
        secret=settings.captcha_secret,
        site_key=settings.captcha_site_key,
        redis=redis,
        http=http,
        verify_url=settings.captcha_verify_url,
        timeout_s=settings.captcha_verify_timeout_s,
        min_score=settings.captcha_min_score,
    )

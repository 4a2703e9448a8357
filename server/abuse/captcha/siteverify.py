"""Hosted captchas (Turnstile, hCaptcha, reCAPTCHA), checked with the provider's siteverify.

All three take the same form POST (``secret``, ``response``, optional ``remoteip``) and
answer JSON with a boolean ``success``, so one class serves them. Anything but a clear
yes in time (network error, timeout, HTTP error, odd JSON, a low score) is a no.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any, Literal

import httpx
import redis.asyncio

from server.abuse.captcha.base import Ticket, claim, invalid, required, ticket

logger = logging.getLogger(__name__)

HostedProvider = Literal["turnstile", "hcaptcha", "recaptcha"]

VERIFY_URLS: dict[HostedProvider, str] = {
    "turnstile": "https://challenges.cloudflare.com/turnstile/v0/siteverify",
    "hcaptcha": "https://api.hcaptcha.com/siteverify",
    "recaptcha": "https://www.google.com/recaptcha/api/siteverify",
}
# Provider tokens live at most 5 minutes (Turnstile) and are single-use at the provider
# too; the local guard also settles concurrent requests with one token before they race.
TOKEN_LIFETIME_S = 300.0


class SiteverifyVerifier:
    """Verifies widget tokens with a hosted provider's siteverify endpoint."""

    def __init__(
        self,
        *,
        provider: HostedProvider,
        secret: str,
        site_key: str,
        redis: redis.asyncio.Redis,
        http: httpx.AsyncClient | None = None,
        verify_url: str = "",
        timeout_s: float = 3.0,
        min_score: float = 0.5,
    ) -> None:
        self.provider = provider
        self._secret = secret
        self._site_key = site_key
        self._redis = redis
        self._http = http
        self.verify_url = verify_url or VERIFY_URLS[provider]
        self._timeout_s = timeout_s
        self._min_score = min_score

    async def challenge(self) -> dict[str, Any] | None:
        """None: the provider's widget fetches its own challenge."""
        return None

    async def verify(self, payload: str | None, *, remote_ip: str | None) -> None:
        """Accept a token the provider vouches for, once; else raise.

        ``CAPTCHA_REQUIRED`` when ``payload`` is missing; ``CAPTCHA_INVALID`` with
        ``extensions.reason`` ``rejected`` (the provider said no, or the score is too
        low), ``unavailable`` (no clear answer in time), ``malformed`` or ``replayed``.
        """
        await claim(self._redis, await self.check(payload, remote_ip=remote_ip))

    async def check(self, payload: str | None, *, remote_ip: str | None) -> Ticket:
        """Like :meth:`verify` but for single use: the ticket that uses the token up."""
        token = required(payload)
        answer = await self._ask(token, remote_ip)
        if answer.get("success") is not True:
            logger.info("%s rejected a token: %s", self.provider, answer.get("error-codes"))
            raise invalid("rejected", "the captcha was not accepted; please try again")
        score = answer.get("score")
        if isinstance(score, int | float) and score < self._min_score:
            logger.info("%s score %s is under %s", self.provider, score, self._min_score)
            raise invalid("rejected", "the captcha was not accepted; please try again")
        return ticket(f"{self.provider}:{token}", TOKEN_LIFETIME_S)

    async def _ask(self, token: str, remote_ip: str | None) -> dict[str, Any]:
        form = {"secret": self._secret, "response": token}
        if remote_ip:
            form["remoteip"] = remote_ip
        if self.provider == "hcaptcha" and self._site_key:
            form["sitekey"] = self._site_key
        try:
            # httpx's timeouts are per phase (connect, read, ...): bound the whole call.
            async with asyncio.timeout(self._timeout_s), self._client() as client:
                response = await client.post(self.verify_url, data=form)
                response.raise_for_status()
                answer = response.json()
        except (httpx.HTTPError, TimeoutError, ValueError) as exc:
            logger.warning("%s siteverify failed: %r", self.provider, exc)
            raise invalid(
                "unavailable", "the captcha could not be checked right now; please try again"
            ) from exc
        if not isinstance(answer, dict):
            logger.warning("%s siteverify answered %r, not an object", self.provider, answer)
            raise invalid(
                "unavailable", "the captcha could not be checked right now; please try again"
            )
        return answer

    @contextlib.asynccontextmanager
    async def _client(self) -> AsyncIterator[httpx.AsyncClient]:
        if self._http is not None:
            yield self._http
            return
        # No shared client given: one per call (costs a TLS handshake each time).
        async with httpx.AsyncClient(timeout=self._timeout_s) as client:
            yield client

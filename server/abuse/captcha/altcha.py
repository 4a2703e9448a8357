"""ALTCHA: a self-hosted proof-of-work captcha (the default provider).

The server hands out a signed challenge; the page's widget spends CPU finding the
counter that solves it and sends back a base64 payload. Uses PoW v2 of the ``altcha``
package in *deterministic* mode: the server picks the counter, pre-computes the derived
key and signs it, so verifying is one HMAC and never re-runs the key derivation. The
library checks payloads; this module adds the accept-once guard (a solved payload is
used up, :mod:`server.abuse.captcha.base`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from typing import Any

import altcha
import redis.asyncio

from server.abuse.captcha.base import Ticket, claim, invalid, required, ticket

# PBKDF2 with one iteration per counter: the difficulty is the counter range
# (captcha_max_number), as with ALTCHA v1's "maxnumber"; ~1 s on a mid-range phone at
# the default 50,000.
ALGORITHM = "PBKDF2/SHA-256"
COST = 1
# Solved payloads stay in the replay guard a little past their own expiry.
REPLAY_MARGIN_S = 60.0

_MALFORMED = (ValueError, KeyError, TypeError, AttributeError, RecursionError)


class CaptchaSolveError(RuntimeError):
    """A challenge could not be solved in the time allowed (tests and the benchmark bot)."""


class AltchaVerifier:
    """Issues ALTCHA challenges signed with ``secret_key`` and accepts each solution once."""

    def __init__(
        self,
        *,
        secret_key: str,
        max_number: int,
        expires_s: float,
        redis: redis.asyncio.Redis,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not secret_key:
            raise ValueError("ALTCHA needs a non-empty secret key (LOOKALIKE_SECRET_KEY)")
        if max_number < 1:
            raise ValueError(f"captcha_max_number must be at least 1, got {max_number}")
        self._secret = secret_key
        # The derived-key signature gets its own key, derived so that one setting suffices.
        self._key_secret = hmac.new(
            secret_key.encode(), b"lookalike altcha derived-key", hashlib.sha256
        ).hexdigest()
        self._max_number = max_number
        self._expires_s = expires_s
        self._redis = redis
        self._clock = clock

    async def challenge(self) -> dict[str, Any]:
        """A fresh signed challenge: the JSON the widget's ``challengeurl`` must return."""
        low = self._max_number // 2  # never a trivially small amount of work
        counter = low + secrets.randbelow(max(1, self._max_number - low))
        challenge = altcha.create_challenge(
            algorithm=ALGORITHM,
            cost=COST,
            counter=counter,
            expires_at=int(self._clock() + self._expires_s),
            hmac_secret=self._secret,
            hmac_key_secret=self._key_secret,
        )
        data: dict[str, Any] = challenge.to_dict()
        return data

    async def verify(self, payload: str | None, *, remote_ip: str | None) -> None:
        """Accept a solved, untampered, unexpired, never-used payload; else raise.

        ``CAPTCHA_REQUIRED`` when ``payload`` is missing; ``CAPTCHA_INVALID`` with
        ``extensions.reason`` ``malformed``, ``expired``, ``tampered``, ``wrong_solution``
        or ``replayed`` otherwise.
        """
        await claim(self._redis, await self.check(payload, remote_ip=remote_ip))

    async def check(self, payload: str | None, *, remote_ip: str | None) -> Ticket:
        """Like :meth:`verify` but for single use: the ticket that uses the payload up.

        The ``altcha`` library checks expiry, the challenge's signature and the solution;
        this adds what it leaves to the server: a challenge must carry an expiry (this
        server signs none without one), which bounds how long its ticket is kept."""
        token = required(payload)
        try:
            parsed = altcha.Payload.from_base64(token)
            result = altcha.verify_solution(parsed, self._secret, hmac_key_secret=self._key_secret)
        except _MALFORMED as exc:
            raise invalid(
                "malformed", "expected an ALTCHA payload (base64 JSON), got something else"
            ) from exc
        if result.expired:
            raise invalid("expired", "this captcha has expired; solve a new one")
        if result.invalid_signature:
            raise invalid("tampered", "this captcha was not issued by this server")
        if not result.verified:
            raise invalid("wrong_solution", "this captcha is not solved correctly")
        expires_at, signature = parsed.challenge.parameters.expires_at, parsed.challenge.signature
        if not isinstance(expires_at, int) or not isinstance(signature, str):
            raise invalid("tampered", "this captcha was not issued by this server")
        # The challenge signature identifies the challenge however the payload is encoded.
        return ticket(f"altcha:{signature}", expires_at - time.time() + REPLAY_MARGIN_S)


def solve_altcha(challenge: dict[str, Any], *, timeout_s: float = 60.0) -> str:
    """Solve a challenge as the widget would and return the payload it would send.

    CPU-bound (about ``captcha_max_number`` key derivations): call it in a thread from
    async code. Raises :class:`CaptchaSolveError` if no solution is found in time.
    """
    parsed = altcha.Challenge.from_dict(challenge)
    solution = altcha.solve_challenge(parsed, timeout=timeout_s)
    if solution is None:
        raise CaptchaSolveError(f"no solution to the ALTCHA challenge within {timeout_s} s")
    encoded: str = altcha.Payload(parsed, solution).to_base64()
    return encoded

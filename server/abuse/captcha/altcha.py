"""ALTCHA: a self-hosted proof-of-work captcha (the default provider).

The server hands out a signed challenge; the page's widget spends CPU finding the
counter that solves it and sends back a base64 payload. Uses PoW v2 of the ``altcha``
package in *deterministic* mode: the server picks the counter, pre-computes the derived
key and signs it, so verifying is one HMAC and never re-runs the key derivation. The
library checks payloads; this module adds the accept-once guard (a solved payload is
used up, :mod:`server.abuse.captcha.base`) and one shortcut for the payloads it issues
(:meth:`AltchaVerifier.issued_and_solved`), which the submission path needs to keep its
floor (figures in ``benchmarks/README.md``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Callable
from typing import Any, TypeGuard

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
_SAFE_INTEGER = 2**53  # JavaScript writes integers up to this exactly as Python does
_HEX = re.compile(r"(?:[0-9a-fA-F]{2})+")  # a derived key, as the library reads one


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
            if not self.issued_and_solved(parsed):  # then the library decides, with a reason
                result = altcha.verify_solution(
                    parsed, self._secret, hmac_key_secret=self._key_secret
                )
                if result.expired:
                    raise invalid("expired", "this captcha has expired; solve a new one")
                if result.invalid_signature:
                    raise invalid("tampered", "this captcha was not issued by this server")
                if not result.verified:
                    raise invalid("wrong_solution", "this captcha is not solved correctly")
        except _MALFORMED as exc:
            raise invalid(
                "malformed", "expected an ALTCHA payload (base64 JSON), got something else"
            ) from exc
        expires_at, signature = parsed.challenge.parameters.expires_at, parsed.challenge.signature
        if not isinstance(expires_at, int) or not isinstance(signature, str):
            raise invalid("tampered", "this captcha was not issued by this server")
        # The challenge signature identifies the challenge however the payload is encoded.
        return ticket(f"altcha:{signature}", expires_at - time.time() + REPLAY_MARGIN_S)

    def issued_and_solved(self, parsed: altcha.Payload) -> bool:
        """True when ``altcha.verify_solution`` would say yes to a payload of the shape
        :meth:`challenge` issues; False for anything else (a no, or another shape), which
        then goes to the library for its verdict and reason.

        The library's checks in its order: not expired, the challenge's HMAC over the
        canonical JSON of its parameters, the derived key's HMAC. Only the canonical JSON
        is written differently: for the flat object this server signs, ``json.dumps``
        writes what the library's general JavaScript-compatible writer does, several
        times faster (figures in ``benchmarks/README.md``, "Submission path").
        """
        challenge, derived = parsed.challenge, parsed.solution.derived_key
        params = challenge.parameters
        if not (
            type(params.expires_at) is int
            and params.expires_at >= time.time()
            and _printable(challenge.signature)
            and _printable(params.key_signature)
            and isinstance(derived, str)
            and _HEX.fullmatch(derived)
        ):
            return False
        canonical = _flat_json(params.to_dict())
        if canonical is None:
            return False
        signed = hmac.new(self._secret.encode(), canonical.encode(), hashlib.sha256)
        key = hmac.new(self._key_secret.encode(), bytes.fromhex(derived), hashlib.sha256)
        return hmac.compare_digest(challenge.signature, signed.hexdigest()) and (
            hmac.compare_digest(params.key_signature, key.hexdigest())
        )


def _flat_json(parameters: dict[str, Any]) -> str | None:
    """``JSON.stringify`` with sorted keys, as ALTCHA signs parameters, for a flat object
    of printable ASCII strings, safe integers, booleans and nulls under printable ASCII
    keys that do not start with a digit (JavaScript orders array-index keys first); None
    for anything else. For such an object keys sort alike, and strings need no escapes
    but ``\\"`` and ``\\\\``, which both languages write alike."""
    for key, value in parameters.items():
        if not (_printable(key) and not key[:1].isdigit()):
            return None
        if value is None or type(value) is bool:
            continue
        if type(value) is int and -_SAFE_INTEGER <= value <= _SAFE_INTEGER:
            continue
        if not _printable(value):
            return None
    return json.dumps(parameters, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _printable(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and value.isascii() and value.isprintable()


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

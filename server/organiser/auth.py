"""Organiser access: one role, a password from settings, tokens kept in Redis.

* :func:`login` rate-limits attempts per client address and over all addresses, then
  checks the password: an argon2 hash in ``LOOKALIKE_ORGANISER_PASSWORD`` is verified
  with argon2-cffi in a pool of :data:`HASH_WORKERS` threads, plain text is compared in
  constant time. Failed attempts are audited up to a number an hour, then counted. A
  good password gets a token (``lko_...``), kept in Redis by its SHA-256 until it
  expires.
* A token is presented as ``Authorization: Bearer <token>``, as ``organiserToken`` in a
  WebSocket's ``connection_init`` payload, or as the HttpOnly, SameSite=Strict cookie
  :func:`set_cookie` gives a browser at login (:func:`presented` reads players' session
  tokens the same way). :func:`organiser_console` turns a request's token into the
  organiser's :class:`~server.organiser.console.Console`, for GraphQL and ``/admin`` alike.
* A browser sends a cookie on its own, so a cookie must come with proof that the request
  comes from our pages (:func:`check_same_site`): an HTTP request that changes anything
  must carry the ``X-Lookalike-CSRF`` header (a cross-site form cannot set a header, and
  a cross-site script would need a CORS preflight that this server never grants); any
  ``Origin`` must be ours; a WebSocket must name our origin.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import secrets
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any, cast
from urllib.parse import urlsplit

import redis.asyncio
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from starlette.requests import HTTPConnection
from starlette.responses import Response

from server.abuse.limits import Limit, check_rates, ip_bucket
from server.errors import ApiError
from server.organiser.audit import Actor, AuditLog
from server.organiser.console import Console
from server.resources import Resources
from server.settings import PREFIX, Settings
from server.state import keys
from server.state.participants import hash_token

log = logging.getLogger(__name__)

TOKEN_PREFIX = "lko_"
COOKIE = "lookalike_organiser"
CSRF_HEADER = "x-lookalike-csrf"
MAX_TOKEN_CHARS = 128  # longer is no token of ours (player or organiser): not worth hashing
HASH_WORKERS = 2  # argon2 checks at once, per process (each takes ~50 ms and 64 MiB)
HASH_THREAD_NAME = "organiser-hash"
# Threads start on first use, not at import.
HASHING = ThreadPoolExecutor(max_workers=HASH_WORKERS, thread_name_prefix=HASH_THREAD_NAME)


@dataclass(frozen=True)
class OrganiserSession:
    """A logged-in organiser: the name they gave, where they logged in from, until when."""

    name: str
    source: str
    expires_at: float

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: str) -> OrganiserSession:
        data = json.loads(raw)
        return cls(name=data["name"], source=data["source"], expires_at=data["expires_at"])


async def password_matches(presented: str, configured: str) -> bool:
    """Whether ``presented`` is the organiser password (``configured``: plain or argon2)."""
    if configured.startswith("$argon2"):
        verify = PasswordHasher().verify
        try:
            # Hashing is deliberately slow: off the event loop, in a pool of its own, so
            # that a flood of logins waits there instead of taking every shared thread.
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(HASHING, verify, configured, presented)
        except VerifyMismatchError:
            return False
        except (InvalidHashError, VerificationError) as exc:
            log.error("%sORGANISER_PASSWORD is not a valid argon2 hash: %s", PREFIX, exc)
            return False
    return hmac.compare_digest(presented.encode(), configured.encode())


def login_limits(settings: Settings, source: str) -> list[Limit]:
    """What one login attempt counts against: its address's budget, and everyone's (a
    crowd of addresses guessing together), taken together or not at all."""
    return [
        Limit(
            keys.rate("organiser-login", ip_bucket(source)),
            rate_per_s=settings.organiser_login_rate_per_s,
            burst=settings.organiser_login_burst,
        ),
        Limit(
            keys.rate("organiser-login-global", "all"),
            rate_per_s=settings.organiser_login_global_rate_per_s,
            burst=settings.organiser_login_global_burst,
        ),
    ]


async def login(
    client: redis.asyncio.Redis,
    settings: Settings,
    audit: AuditLog,
    *,
    password: str,
    actor: Actor,
) -> tuple[str, OrganiserSession]:
    """Check the password (rate-limited: :func:`login_limits`); return a new token and session.

    Raises:
        ApiError: FORBIDDEN (no password configured), RATE_LIMITED, UNAUTHENTICATED.
    """
    if not settings.organiser_password:
        raise ApiError(
            "FORBIDDEN", f"organiser login is off: set {PREFIX}ORGANISER_PASSWORD to turn it on"
        )
    wait = await check_rates(client, login_limits(settings, actor.source))
    if wait > 0:
        raise ApiError(
            "RATE_LIMITED", "too many organiser login attempts; wait a little", retry_after=wait
        )
    if not await password_matches(password, settings.organiser_password):
        per_hour = settings.audit_failed_logins_per_hour
        await audit.record_capped(actor, "organiser.login-failed", per_hour=per_hour)
        raise ApiError("UNAUTHENTICATED", "wrong organiser password")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session = OrganiserSession(
        name=actor.name, source=actor.source, expires_at=time.time() + settings.organiser_session_s
    )
    await client.set(
        keys.organiser_session(hash_token(token)),
        session.to_json(),
        px=int(settings.organiser_session_s * 1000),
    )
    await audit.record(actor, "organiser.login", after={"expiresAt": session.expires_at})
    return token, session


async def logout(client: redis.asyncio.Redis, token: str) -> bool:
    """End a session; False if it had already ended."""
    return bool(await client.delete(keys.organiser_session(hash_token(token))))


def presented(
    connection: HTTPConnection,
    params: Mapping[str, Any],
    *,
    names: tuple[str, ...],
    cookie: str,
    prefix: str = "",
) -> tuple[str, bool] | None:
    """The token a caller presents, and whether it came from the cookie: a WebSocket's
    ``connection_init`` payload under one of ``names``, else ``Authorization: Bearer``,
    else the ``cookie``; payload and header only if the token starts with ``prefix``.
    Players' session tokens and organisers' alike."""
    for value in (params.get(name) for name in names):
        if isinstance(value, str) and value and value.startswith(prefix):
            return value, False
    scheme, _, value = connection.headers.get("authorization", "").partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value and value.startswith(prefix):
        return value, False
    found = connection.cookies.get(cookie)
    return (found, True) if found else None


def presented_token(
    connection: HTTPConnection, params: Mapping[str, Any]
) -> tuple[str, bool] | None:
    """The organiser token a caller presents, and whether it came from the cookie."""
    return presented(
        connection, params, names=("organiserToken", "token"), cookie=COOKIE, prefix=TOKEN_PREFIX
    )


async def authenticate(
    client: redis.asyncio.Redis,
    settings: Settings,
    connection: HTTPConnection,
    params: Mapping[str, Any] | None = None,
    *,
    changes_state: bool = True,
) -> tuple[OrganiserSession, str]:
    """The caller's organiser session and token.

    ``changes_state=False`` (plain downloads) skips the CSRF header, not the origin check.

    Raises:
        ApiError: UNAUTHENTICATED (no or unknown token), FORBIDDEN (a cross-site cookie).
    """
    found = presented_token(connection, params or {})
    if found is None:
        raise ApiError("UNAUTHENTICATED", "this needs an organiser login (organiserLogin)")
    token, from_cookie = found
    if from_cookie:
        check_same_site(connection, settings, changes_state=changes_state)
    raw = None
    if len(token) <= MAX_TOKEN_CHARS:
        raw = cast(str | None, await client.get(keys.organiser_session(hash_token(token))))
    if raw is None:
        raise ApiError("UNAUTHENTICATED", "the organiser session has ended; log in again")
    return OrganiserSession.from_json(raw), token


async def organiser_console(
    resources: Resources,
    connection: HTTPConnection,
    params: Mapping[str, Any] | None = None,
    *,
    changes_state: bool = True,
) -> Console:
    """The console of the organiser making this request (GraphQL or ``/admin``), acting
    as them from their address. Raises as :func:`authenticate`."""
    session, _ = await authenticate(
        resources.redis, resources.settings, connection, params, changes_state=changes_state
    )
    actor = Actor(session.name, resources.client_ip(connection))
    return Console(resources.store, resources.images, resources.settings, actor)


def check_same_site(
    connection: HTTPConnection, settings: Settings, *, changes_state: bool = True
) -> None:
    """Refuse a cookie-authenticated request that may come from another site's page."""
    origin = connection.headers.get("origin")
    websocket = connection.scope["type"] == "websocket"
    if origin is None and websocket:
        raise ApiError("FORBIDDEN", "an organiser WebSocket with a cookie must name its Origin")
    if origin is not None and not is_our_origin(origin, connection, settings):
        raise ApiError("FORBIDDEN", f"organiser requests from {origin} are not accepted")
    if changes_state and not websocket and not connection.headers.get(CSRF_HEADER):
        raise ApiError(
            "FORBIDDEN",
            f"with the organiser cookie, send the {CSRF_HEADER} header (any value), "
            "or send the token as Authorization: Bearer",
        )


def is_our_origin(origin: str, connection: HTTPConnection, settings: Settings) -> bool:
    """An allowed origin, or the host this request was sent to, or the public URL's."""
    if origin in settings.allowed_origins:
        return True
    netloc = urlsplit(origin).netloc
    ours = {connection.headers.get("host", "")}
    if settings.public_url:
        ours.add(urlsplit(settings.public_url).netloc)
    return bool(netloc) and netloc in ours


def set_cookie(response: Response, connection: HTTPConnection, token: str, max_age: float) -> None:
    """Give a browser the organiser token as an HttpOnly, SameSite=Strict cookie."""
    response.set_cookie(
        COOKIE,
        token,
        max_age=int(max_age),
        httponly=True,
        samesite="strict",
        secure=connection.url.scheme in ("https", "wss"),
    )


def clear_cookie(response: Response) -> None:
    response.delete_cookie(COOKIE, httponly=True, samesite="strict")

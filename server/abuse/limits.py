"""Who may submit how often: rate limits, the client's address, and captcha friction.

The client's address comes from uvicorn's proxy-headers middleware (trusting
``LOOKALIKE_TRUSTED_PROXIES``), in front of the app and, for the screens' socket, here.

Rate limits are GCRA (the generic cell rate algorithm): each client has one Redis key
holding its *theoretical arrival time*; a request is allowed while that time is less
than ``burst`` intervals ahead of now. One Lua function (``server/state/lua/gcra.lua``)
checks and updates every limit of a request in one atomic round trip, and consumes
nothing when any of them says no; ``rate.lua`` runs it alone, and the submission script
(``submit.lua``) runs it as part of a submission, so the limit is taken atomically with it.
"""

from __future__ import annotations

import functools
import ipaddress
import math
from collections.abc import Iterable, Mapping
from typing import Any, Final, cast

import redis.asyncio
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from server.errors import ApiError
from server.settings import Settings
from server.state import keys
from server.state.scripts import lua

# How long a captcha pass lasts when captcha_every_s is 0: about one conference day.
UNTIMED_CREDIT_S: Final = 24 * 3600
UNKNOWN_CLIENT: Final = "unknown"


class Limit:
    """One rate: ``burst`` requests at once, then one every ``1 / rate_per_s`` seconds."""

    __slots__ = ("burst", "key", "rate_per_s")

    def __init__(self, key: str, *, rate_per_s: float, burst: int) -> None:
        if not rate_per_s > 0 or not math.isfinite(rate_per_s):
            raise ValueError(f"rate_per_s must be a positive number, got {rate_per_s}")
        if burst < 1:
            raise ValueError(f"burst must be at least 1, got {burst}")
        self.key = key
        self.rate_per_s = rate_per_s
        self.burst = burst


async def check_rates(
    client: redis.asyncio.Redis, limits: Iterable[Limit], *, now: float | None = None
) -> float:
    """Take one request from every limit, or from none: 0.0 if allowed, else seconds to wait.

    ``now`` is for tests; by default the Redis server's clock is used.
    """
    limits = list(limits)
    args = ["" if now is None else repr(float(now)), *rate_params(limits)]
    script = client.register_script(lua("gcra", "rate"))
    reply = await script(keys=[limit.key for limit in limits], args=args)
    return float(reply)


def rate_params(limits: Iterable[Limit]) -> list[str]:
    """The ``params`` of the Lua ``take_rates`` (``server/state/lua/gcra.lua``) for
    ``limits``: per limit its interval (1 / rate) and burst."""
    return [item for limit in limits for item in (repr(1.0 / limit.rate_per_s), str(limit.burst))]


async def check_rate(
    client: redis.asyncio.Redis,
    key: str,
    *,
    rate_per_s: float,
    burst: int,
    now: float | None = None,
) -> float:
    """One GCRA limit: 0.0 if the request is allowed (and counted), else seconds to wait."""
    return await check_rates(client, [Limit(key, rate_per_s=rate_per_s, burst=burst)], now=now)


async def enforce_rates(
    client: redis.asyncio.Redis, limits: Iterable[Limit], *, what: str = "submissions"
) -> None:
    """Like :func:`check_rates`, but raise ``RATE_LIMITED`` with ``retryAfter`` on a no."""
    wait = await check_rates(client, limits)
    if wait > 0:
        raise rate_limited(wait, what)


def rate_limited(wait: float, what: str = "submissions") -> ApiError:
    """``RATE_LIMITED`` with ``retryAfter``: the answer to a request over its limits."""
    return ApiError(
        "RATE_LIMITED",
        f"too many {what} at once; try again in {math.ceil(wait)} s",
        retry_after=wait,
    )


def join_limit(settings: Settings, ip: str) -> Limit:
    """The limit a join counts against: its address's (accounts must cost something)."""
    return Limit(
        keys.rate("join", ip_bucket(ip)),
        rate_per_s=settings.join_rate_per_s,
        burst=settings.join_burst,
    )


def submission_limits(settings: Settings, *, participant_id: str, ip: str) -> list[Limit]:
    """The limits one submission counts against: its participant's and its address's."""
    return [
        Limit(
            keys.rate("participant", participant_id),
            rate_per_s=settings.participant_rate_per_s,
            burst=settings.participant_burst,
        ),
        Limit(
            keys.rate("ip", ip_bucket(ip)),
            rate_per_s=settings.ip_rate_per_s,
            burst=settings.ip_burst,
        ),
    ]


async def limit_submission(
    client: redis.asyncio.Redis, settings: Settings, *, participant_id: str, ip: str
) -> None:
    """Count a submission against its participant and its address, or raise ``RATE_LIMITED``."""
    await enforce_rates(client, submission_limits(settings, participant_id=participant_id, ip=ip))


# Addresses repeat (a conference NAT, a proxy's hops): parsing one is ~10 µs a time.
ADDRESSES_REMEMBERED: Final = 4096


@functools.lru_cache(maxsize=ADDRESSES_REMEMBERED)
def ip_bucket(ip: str) -> str:
    """The unit an address is limited as: the address, or its /64 for IPv6.

    One phone on IPv6 usually holds a whole /64 and can rotate addresses inside it.
    """
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


# --- the client's address
#
# Behind a trusted proxy uvicorn's ProxyHeadersMiddleware (wrapped around the app in
# server.app) puts the client's address in scope["client"] and the scheme the proxy saw
# in scope["scheme"]: the right-most X-Forwarded-For hop that is not a trusted proxy
# (everything left of it was written by the client and may be forged); from an untrusted
# peer the headers are ignored.


def trusted_hosts(trusted_proxies: tuple[str, ...]) -> list[str]:
    """``LOOKALIKE_TRUSTED_PROXIES`` as uvicorn's ``trusted_hosts``: networks, each IPv4
    one also in its IPv4-mapped IPv6 form (``::ffff:10.0.0.0/104``), which a dual-stack
    socket reports as the peer. Addresses become one-address networks, and host bits are
    dropped (uvicorn would take ``10.1.2.3/8`` for a name and never match it)."""
    hosts = []
    for entry in trusted_proxies:
        network = ipaddress.ip_network(entry, strict=False)
        hosts.append(str(network))
        if isinstance(network, ipaddress.IPv4Network):
            mapped = ipaddress.ip_address(f"::ffff:{network.network_address}")
            hosts.append(f"{mapped}/{96 + network.prefixlen}")
    return hosts


def client_address(client: tuple[str, int] | None) -> str:
    """The client's address from ASGI ``scope["client"]`` (a Starlette ``Address``
    too): IPv4-mapped IPv6 as plain IPv4, ``unknown`` on a Unix socket."""
    if client is None:
        return UNKNOWN_CLIENT
    return _plain(client[0])


def client_ip(
    scope_client_host: str | None,
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
    trusted_proxies: tuple[str, ...],
) -> str:
    """The client's address for a connection that no ASGI middleware saw (the screens'
    socket answers uvicorn's upgrade itself): the same middleware, applied here.

    ``scope_client_host`` is the socket peer; ``headers`` a header mapping (Starlette's
    ``Headers`` keeps repeated headers) or ``(name, value)`` pairs."""
    scope: Scope = {
        "type": "websocket",
        "client": (scope_client_host, 0) if scope_client_host else None,
        "headers": [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in (headers.items() if isinstance(headers, Mapping) else headers)
        ],
    }
    steps = _resolver(trusted_proxies)(scope, _nothing_received, _nothing_sent).__await__()
    # The middleware only rewrites the scope and calls the app below, which returns at
    # once: the call finishes on its first step, without an event loop.
    try:
        next(steps)
    except StopIteration:
        return client_address(scope["client"])
    steps.close()
    raise RuntimeError("uvicorn's ProxyHeadersMiddleware waited on something")


def proxy_headers(app: ASGIApp, trusted_proxies: tuple[str, ...]) -> ASGIApp:
    """``app`` behind uvicorn's ProxyHeadersMiddleware, trusting ``trusted_proxies``."""
    # uvicorn types ASGI with its own TypedDicts; Starlette's ASGIApp is the same protocol.
    middleware: Any = ProxyHeadersMiddleware(cast(Any, app), trusted_hosts(trusted_proxies))
    return cast(ASGIApp, middleware)


@functools.lru_cache(maxsize=16)
def _resolver(trusted_proxies: tuple[str, ...]) -> ASGIApp:
    return proxy_headers(_scope_only, trusted_proxies)


async def _scope_only(scope: Scope, receive: Receive, send: Send) -> None:
    """The application under :func:`client_ip`'s middleware: the scope is all it wants."""


async def _nothing_received() -> Message:
    raise RuntimeError("client_ip's middleware reads no request body")


async def _nothing_sent(message: Message) -> None:
    raise RuntimeError("client_ip's middleware sends no response")


@functools.lru_cache(maxsize=ADDRESSES_REMEMBERED)
def _plain(host: str) -> str:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host  # not an address (a test client's name): taken as it is
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


# --- captcha friction


async def captcha_needed(
    client: redis.asyncio.Redis, participant_id: str, settings: Settings
) -> bool:
    """Whether this submission must carry a solved captcha.

    False means a recent pass (see :func:`captcha_passed`) covers it, and one of the
    submissions that pass covers is used up, atomically. With ``captcha_every=1`` (the
    default) every submission needs one and Redis is not asked.
    """
    if settings.captcha_every == 1:
        return True
    script = client.register_script(lua("captcha_credit"))
    reply = await script(keys=[keys.captcha_credit(participant_id)])
    return bool(int(reply))


async def captcha_passed(
    client: redis.asyncio.Redis, participant_id: str, settings: Settings
) -> None:
    """Record that the participant just solved a captcha for a submission.

    That pass also covers the next ``captcha_every - 1`` submissions (all of them when
    ``captcha_every`` is 0) within ``captcha_every_s`` seconds (a day when that is 0).
    """
    if settings.captcha_every == 1:
        return
    credit = settings.captcha_every - 1 if settings.captcha_every > 1 else -1
    ttl_s = settings.captcha_every_s if settings.captcha_every_s > 0 else UNTIMED_CREDIT_S
    await client.set(
        keys.captcha_credit(participant_id), credit, px=max(1, math.ceil(ttl_s * 1000))
    )

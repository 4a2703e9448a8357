"""Rate limits against a pure-Python GCRA model, client addresses, captcha friction."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis
import redis.asyncio
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from starlette.datastructures import Headers

from server.abuse.limits import (
    Limit,
    captcha_needed,
    captcha_passed,
    check_rate,
    check_rates,
    client_address,
    client_ip,
    enforce_rates,
    ip_bucket,
    limit_submission,
    submission_limits,
    trusted_hosts,
)
from server.errors import ApiError
from server.settings import Settings, SettingsError
from server.state import keys
from server.state.connection import async_client


@pytest.fixture
async def redis_async(redis_url: str) -> AsyncIterator[redis.asyncio.Redis]:
    client = async_client(redis_url)
    yield client
    await client.aclose()


class GcraModel:
    """The reference: GCRA as written in the literature, one client, explicit time."""

    def __init__(self, rate_per_s: float, burst: int) -> None:
        self.interval = 1.0 / rate_per_s
        self.burst = burst
        self.tat: float | None = None

    def request(self, now: float) -> float:
        tat = now if self.tat is None or self.tat < now else self.tat
        new_tat = tat + self.interval
        allow_at = new_tat - self.burst * self.interval
        if now < allow_at:
            return allow_at - now
        self.tat = new_tat
        return 0.0


# Gaps between requests in units of the limit's interval: often zero (a macro's burst),
# often less than one interval (over the rate), sometimes long idle spells.
gaps = st.lists(
    st.one_of(
        st.just(0.0),
        st.floats(min_value=0.0, max_value=1.5),
        st.floats(min_value=0.0, max_value=30.0),
    ),
    min_size=3,
    max_size=40,
)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rate=st.floats(min_value=0.01, max_value=50.0),
    burst=st.one_of(st.integers(min_value=1, max_value=3), st.integers(min_value=1, max_value=20)),
    gaps=gaps,
    start=st.floats(min_value=1e9, max_value=2e9),
)
def test_gcra_matches_reference_model(
    redis_url: str, rate: float, burst: int, gaps: list[float], start: float
) -> None:
    async def run() -> None:
        client = async_client(redis_url)
        key = f"test:gcra:{uuid.uuid4()}"
        model = GcraModel(rate, burst)
        now = start
        rejected = 0
        try:
            for gap in gaps:
                now += gap / rate
                got = await check_rate(client, key, rate_per_s=rate, burst=burst, now=now)
                assert got == model.request(now)
                rejected += got > 0
        finally:
            await client.delete(key)
            await client.aclose()
        event("some rejected" if rejected else "all allowed")

    asyncio.run(run())


async def test_burst_then_one_per_interval(redis_async: redis.asyncio.Redis) -> None:
    now = 1_000.0
    for _ in range(3):
        assert await check_rate(redis_async, "k", rate_per_s=0.5, burst=3, now=now) == 0.0
    assert await check_rate(redis_async, "k", rate_per_s=0.5, burst=3, now=now) == 2.0
    assert await check_rate(redis_async, "k", rate_per_s=0.5, burst=3, now=now + 1.5) == 0.5
    assert await check_rate(redis_async, "k", rate_per_s=0.5, burst=3, now=now + 2.0) == 0.0


async def test_rejected_requests_consume_nothing(redis_async: redis.asyncio.Redis) -> None:
    now = 1_000.0
    assert await check_rate(redis_async, "k", rate_per_s=1.0, burst=1, now=now) == 0.0
    for _ in range(20):
        assert await check_rate(redis_async, "k", rate_per_s=1.0, burst=1, now=now) == 1.0
    assert await check_rate(redis_async, "k", rate_per_s=1.0, burst=1, now=now + 1.0) == 0.0


async def test_concurrent_requests_get_exactly_the_burst(
    redis_async: redis.asyncio.Redis,
) -> None:
    results = await asyncio.gather(
        *(check_rate(redis_async, "k", rate_per_s=0.1, burst=5, now=50.0) for _ in range(40))
    )
    assert sum(1 for wait in results if wait == 0.0) == 5


async def test_redis_clock_is_used_by_default(redis_async: redis.asyncio.Redis) -> None:
    assert await check_rate(redis_async, "k", rate_per_s=0.01, burst=1) == 0.0
    wait = await check_rate(redis_async, "k", rate_per_s=0.01, burst=1)
    assert 90.0 < wait <= 100.0
    ttl_ms = await redis_async.pttl("k")
    assert 0 < ttl_ms <= 101_000


async def test_all_limits_or_none_are_consumed(redis_async: redis.asyncio.Redis) -> None:
    person = Limit("person", rate_per_s=1.0, burst=5)
    shared_ip = Limit("ip", rate_per_s=1.0, burst=1)
    assert await check_rates(redis_async, [person, shared_ip], now=10.0) == 0.0
    assert await check_rates(redis_async, [person, shared_ip], now=10.0) == 1.0
    # The rejected request did not use the participant's second token.
    stored = await redis_async.get("person")
    assert stored is not None
    assert float(stored) == 11.0


async def test_enforce_raises_rate_limited_with_retry_after(
    redis_async: redis.asyncio.Redis,
) -> None:
    limit = Limit("k", rate_per_s=0.2, burst=1)
    await enforce_rates(redis_async, [limit])
    with pytest.raises(ApiError) as info:
        await enforce_rates(redis_async, [limit])
    assert info.value.code == "RATE_LIMITED"
    assert info.value.extensions is not None
    assert 0 < info.value.extensions["retryAfter"] <= 5.0
    assert "try again in 5 s" in info.value.message


async def test_limit_submission_uses_participant_and_ip(
    redis_async: redis.asyncio.Redis,
) -> None:
    settings = Settings.from_env({}, participant_burst=2, ip_burst=3)
    for _ in range(2):
        await limit_submission(redis_async, settings, participant_id="p1", ip="198.51.100.1")
    with pytest.raises(ApiError):
        await limit_submission(redis_async, settings, participant_id="p1", ip="198.51.100.1")
    # A second participant behind the same address still gets through, once.
    await limit_submission(redis_async, settings, participant_id="p2", ip="198.51.100.1")
    with pytest.raises(ApiError):
        await limit_submission(redis_async, settings, participant_id="p3", ip="198.51.100.1")
    assert await redis_async.exists(keys.rate("participant", "p1"), keys.rate("ip", "198.51.100.1"))


def test_submission_limits_follow_settings() -> None:
    settings = Settings.from_env({}, participant_rate_per_s=0.5, ip_burst=7)
    person, address = submission_limits(settings, participant_id="p", ip="2001:db8::1")
    assert (person.key, person.rate_per_s) == (keys.rate("participant", "p"), 0.5)
    assert (address.key, address.burst) == (keys.rate("ip", "2001:db8::/64"), 7)


@pytest.mark.parametrize(("rate", "burst"), [(0.0, 1), (-1.0, 1), (float("inf"), 1), (1.0, 0)])
def test_bad_limits_are_refused(rate: float, burst: int) -> None:
    with pytest.raises(ValueError):
        Limit("k", rate_per_s=rate, burst=burst)


def test_ip_bucket_groups_ipv6_by_64() -> None:
    assert ip_bucket("2001:db8:1:2:aaaa::1") == ip_bucket("2001:db8:1:2:bbbb::2")
    assert ip_bucket("2001:db8:1:2::1") != ip_bucket("2001:db8:1:3::1")
    assert ip_bucket("203.0.113.9") == "203.0.113.9"
    assert ip_bucket("testclient") == "testclient"


# --- client_ip (uvicorn's proxy-headers middleware, applied outside ASGI)

PROXIES = ("10.0.0.0/8", "192.0.2.1")


@pytest.mark.parametrize(
    ("peer", "xff", "expected"),
    [
        # No proxy in front: the peer, whatever the header says.
        ("203.0.113.5", "1.2.3.4", "203.0.113.5"),
        ("203.0.113.5", None, "203.0.113.5"),
        # Behind a trusted proxy: the right-most untrusted hop.
        ("10.1.2.3", "203.0.113.5", "203.0.113.5"),
        ("10.1.2.3", "6.6.6.6, 203.0.113.5", "203.0.113.5"),
        ("192.0.2.1", "6.6.6.6, 203.0.113.5, 10.9.9.9", "203.0.113.5"),
        ("10.1.2.3", None, "10.1.2.3"),
        # Only proxies in the chain: the left-most one is the nearest we know.
        ("10.1.2.3", "10.0.0.7", "10.0.0.7"),
        # What the trusted proxy wrote as the nearest hop is taken as it is.
        ("10.1.2.3", "203.0.113.5, not-an-ip", "not-an-ip"),
        ("10.1.2.3", "[2001:db8::7]:4711", "2001:db8::7"),
        ("10.1.2.3", "203.0.113.5:4711", "203.0.113.5"),
        # A dual-stack socket's IPv4-mapped peer is trusted as its IPv4 address.
        ("::ffff:10.1.2.3", "::ffff:203.0.113.5", "203.0.113.5"),
        (None, "203.0.113.5", "unknown"),
        ("testclient", "203.0.113.5", "testclient"),
    ],
)
def test_client_ip(peer: str | None, xff: str | None, expected: str) -> None:
    headers = {"x-forwarded-for": xff} if xff is not None else {}
    assert client_ip(peer, headers, PROXIES) == expected


def test_client_ip_reads_repeated_headers_in_order() -> None:
    headers = Headers(
        raw=[(b"x-forwarded-for", b"6.6.6.6"), (b"X-Forwarded-For", b"203.0.113.5, 10.0.0.2")]
    )
    assert client_ip("10.1.1.1", headers, PROXIES) == "203.0.113.5"
    pairs = [("X-Forwarded-For", "6.6.6.6"), ("x-forwarded-for", "203.0.113.5")]
    assert client_ip("10.1.1.1", pairs, PROXIES) == "203.0.113.5"


def test_a_peer_without_an_address_is_unknown_and_never_trusted() -> None:
    """A Unix-socket peer has no address: nothing in LOOKALIKE_TRUSTED_PROXIES names it."""
    headers = {"x-forwarded-for": "203.0.113.5"}
    assert client_ip(None, headers, PROXIES) == "unknown"
    assert client_address(None) == "unknown"
    with pytest.raises(SettingsError, match=r"LOOKALIKE_TRUSTED_PROXIES='unix'"):
        Settings.from_env({"LOOKALIKE_TRUSTED_PROXIES": "unix"})


def test_bad_proxy_settings_are_refused_naming_the_variable() -> None:
    with pytest.raises(SettingsError, match=r"^LOOKALIKE_TRUSTED_PROXIES=.*10\.0\.0\.0/33"):
        Settings.from_env({"LOOKALIKE_TRUSTED_PROXIES": "10.0.0.0/8, 10.0.0.0/33"})


def test_trusted_proxies_become_networks_in_both_ip_forms() -> None:
    assert trusted_hosts(("10.1.2.3/8", "2001:db8::1")) == [
        "10.0.0.0/8",
        "::ffff:a00:0/104",
        "2001:db8::1/128",
    ]


# --- captcha friction


def friction(**overrides: Any) -> Settings:
    return Settings.from_env({}, **overrides)


async def test_captcha_every_submission_by_default(redis_async: redis.asyncio.Redis) -> None:
    settings = friction()
    await captcha_passed(redis_async, "p", settings)
    assert await captcha_needed(redis_async, "p", settings)
    assert await redis_async.exists(keys.captcha_credit("p")) == 0


async def test_captcha_once_per_n_submissions(redis_async: redis.asyncio.Redis) -> None:
    settings = friction(captcha_every=3)
    assert await captcha_needed(redis_async, "p", settings)
    await captcha_passed(redis_async, "p", settings)
    assert not await captcha_needed(redis_async, "p", settings)
    assert not await captcha_needed(redis_async, "p", settings)
    assert await captcha_needed(redis_async, "p", settings)
    assert await captcha_needed(redis_async, "other", settings)


async def test_captcha_credit_cannot_be_overspent_concurrently(
    redis_async: redis.asyncio.Redis,
) -> None:
    settings = friction(captcha_every=4)
    await captcha_passed(redis_async, "p", settings)
    needed = await asyncio.gather(*(captcha_needed(redis_async, "p", settings) for _ in range(20)))
    assert needed.count(False) == 3


async def test_captcha_pass_expires_after_the_window(redis_async: redis.asyncio.Redis) -> None:
    settings = friction(captcha_every=0, captcha_every_s=120)
    await captcha_passed(redis_async, "p", settings)
    for _ in range(10):
        assert not await captcha_needed(redis_async, "p", settings)
    assert 0 < await redis_async.pttl(keys.captcha_credit("p")) <= 120_000
    await redis_async.delete(keys.captcha_credit("p"))  # what expiry does
    assert await captcha_needed(redis_async, "p", settings)


async def test_untimed_captcha_pass_still_expires(redis_async: redis.asyncio.Redis) -> None:
    await captcha_passed(redis_async, "p", friction(captcha_every=5))
    assert 0 < await redis_async.pttl(keys.captcha_credit("p")) <= 24 * 3600 * 1000

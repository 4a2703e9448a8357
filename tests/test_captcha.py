"""Captcha providers: ALTCHA round trips and replays, siteverify against a local server."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import altcha
import httpx
import pytest
import redis.asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.abuse.captcha import (
    AltchaVerifier,
    CaptchaVerifier,
    OffVerifier,
    SiteverifyVerifier,
    make_verifier,
    solve_altcha,
)
from server.abuse.captcha import altcha as altcha_module
from server.abuse.captcha.altcha import REPLAY_MARGIN_S
from server.errors import ApiError
from server.settings import Settings

SECRET = "test-secret-key"


@pytest.fixture
def make_altcha(aredis: redis.asyncio.Redis) -> Callable[..., AltchaVerifier]:
    """Factory: an ALTCHA verifier with a small difficulty so tests solve it quickly."""

    def make(**overrides: Any) -> AltchaVerifier:
        values: dict[str, Any] = {
            "secret_key": SECRET,
            "max_number": 200,
            "expires_s": 600,
            "redis": aredis,
        }
        values.update(overrides)
        return AltchaVerifier(**values)

    return make


async def solved(verifier: CaptchaVerifier) -> str:
    challenge = await verifier.challenge()
    assert challenge is not None
    return solve_altcha(challenge)


def reason_of(info: pytest.ExceptionInfo[ApiError]) -> Any:
    assert info.value.extensions is not None
    return info.value.extensions.get("reason")


def edit_payload(payload: str, edit: Callable[[dict[str, Any]], None]) -> str:
    data = json.loads(base64.b64decode(payload))
    edit(data)
    return base64.b64encode(json.dumps(data).encode()).decode()


# --- ALTCHA


async def test_altcha_round_trip_is_accepted(make_altcha: Callable[..., AltchaVerifier]) -> None:
    verifier = make_altcha()
    challenge = await verifier.challenge()
    params = challenge["parameters"]
    assert params["algorithm"] == "PBKDF2/SHA-256"
    assert params["expiresAt"] > time.time()
    assert challenge["signature"]
    await verifier.verify(solve_altcha(challenge), remote_ip="203.0.113.7")


async def test_altcha_difficulty_follows_max_number(
    make_altcha: Callable[..., AltchaVerifier],
) -> None:
    verifier = make_altcha(max_number=64)
    for _ in range(5):
        challenge = await verifier.challenge()
        parsed = json.loads(base64.b64decode(solve_altcha(challenge)))
        assert 32 <= parsed["solution"]["counter"] < 64


async def test_altcha_replay_is_rejected(make_altcha: Callable[..., AltchaVerifier]) -> None:
    verifier = make_altcha()
    payload = await solved(verifier)
    await verifier.verify(payload, remote_ip=None)
    with pytest.raises(ApiError) as info:
        await verifier.verify(payload, remote_ip=None)
    assert info.value.code == "CAPTCHA_INVALID"
    assert reason_of(info) == "replayed"


async def test_altcha_replay_with_reencoded_payload_is_rejected(
    make_altcha: Callable[..., AltchaVerifier],
) -> None:
    verifier = make_altcha()
    payload = await solved(verifier)
    await verifier.verify(payload, remote_ip=None)
    reencoded = edit_payload(payload, lambda d: d["solution"].update(time=1.0))
    assert reencoded != payload
    with pytest.raises(ApiError) as info:
        await verifier.verify(reencoded, remote_ip=None)
    assert reason_of(info) == "replayed"


async def test_altcha_concurrent_replays_accept_exactly_one(
    make_altcha: Callable[..., AltchaVerifier],
) -> None:
    verifier = make_altcha()
    payload = await solved(verifier)
    results = await asyncio.gather(
        *(verifier.verify(payload, remote_ip=None) for _ in range(50)), return_exceptions=True
    )
    accepted = [r for r in results if r is None]
    rejected = [r for r in results if isinstance(r, ApiError)]
    assert len(accepted) == 1
    assert len(rejected) == 49
    assert {(e.code, (e.extensions or {}).get("reason")) for e in rejected} == {
        ("CAPTCHA_INVALID", "replayed")
    }


async def test_altcha_two_solutions_are_both_accepted(
    make_altcha: Callable[..., AltchaVerifier],
) -> None:
    verifier = make_altcha()
    first, second = await solved(verifier), await solved(verifier)
    await verifier.verify(first, remote_ip=None)
    await verifier.verify(second, remote_ip=None)


async def test_altcha_expired_is_rejected(make_altcha: Callable[..., AltchaVerifier]) -> None:
    issued_long_ago = make_altcha(clock=lambda: time.time() - 3600)
    payload = await solved(issued_long_ago)
    with pytest.raises(ApiError) as info:
        await make_altcha().verify(payload, remote_ip=None)
    assert info.value.code == "CAPTCHA_INVALID"
    assert reason_of(info) == "expired"


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (lambda d: d["challenge"]["parameters"].update(keyPrefix="00"), "tampered"),
        (lambda d: d["challenge"]["parameters"].update(expiresAt=2**40), "tampered"),
        (lambda d: d["challenge"].update(signature="0" * 64), "tampered"),
        (lambda d: d["challenge"].pop("signature"), "tampered"),
        (lambda d: d["solution"].update(derivedKey="ab" * 32), "wrong_solution"),
        (lambda d: d["solution"].update(derivedKey=12), "wrong_solution"),
        (lambda d: d.pop("solution"), "malformed"),
        (lambda d: d["challenge"].update(parameters=[1, 2]), "malformed"),
    ],
)
async def test_altcha_tampered_payloads_are_rejected(
    make_altcha: Callable[..., AltchaVerifier],
    edit: Callable[[dict[str, Any]], None],
    reason: str,
) -> None:
    verifier = make_altcha()
    payload = edit_payload(await solved(verifier), edit)
    with pytest.raises(ApiError) as info:
        await verifier.verify(payload, remote_ip=None)
    assert info.value.code == "CAPTCHA_INVALID"
    assert reason_of(info) == reason


# The payload's own fields, edited: the library's check refuses every edit.
SHAPE_EDITS: list[Callable[[dict[str, Any]], None]] = [
    lambda d: d["challenge"]["parameters"].update(cost=2),
    lambda d: d["challenge"]["parameters"].update(keyLength=31),
    lambda d: d["challenge"]["parameters"].update(data={"a": 1}),
    lambda d: d["challenge"]["parameters"].update(keySignature=None),
    lambda d: d["challenge"]["parameters"].update(expiresAt=1.5),
    lambda d: d["challenge"].update(signature=d["challenge"]["signature"].upper()),
    lambda d: d["solution"].update(derivedKey=d["solution"]["derivedKey"][:-2]),
    lambda d: d["solution"].update(derivedKey=d["solution"]["derivedKey"] + "0"),
    lambda d: d["solution"].update(derivedKey="zz" * 32),
    lambda d: d["solution"].update(derivedKey=""),
]


@pytest.mark.parametrize("edit", SHAPE_EDITS)
async def test_altcha_any_edit_of_a_solved_payload_is_refused(
    make_altcha: Callable[..., AltchaVerifier], edit: Callable[[dict[str, Any]], None]
) -> None:
    verifier = make_altcha()
    payload = await solved(verifier)
    with pytest.raises(ApiError) as info:
        await verifier.verify(edit_payload(payload, edit), remote_ip=None)
    assert info.value.code == "CAPTCHA_INVALID"
    await verifier.verify(payload, remote_ip=None)  # the payload as solved still passes


async def test_altcha_what_this_server_issues_takes_the_shortcut(
    make_altcha: Callable[..., AltchaVerifier],
) -> None:
    verifier = make_altcha()
    parsed = altcha.Payload.from_base64(await solved(verifier))
    assert verifier.issued_and_solved(parsed)
    assert altcha.verify_solution(parsed, SECRET, hmac_key_secret=verifier._key_secret).verified


_ANY_TEXT = st.text(max_size=12)
_ANY_NUMBER = st.integers(-(2**60), 2**60) | st.floats(allow_nan=False, allow_infinity=False)
_PARAMETER_EDITS = st.fixed_dictionaries(
    {},
    optional={
        "algorithm": _ANY_TEXT,
        "nonce": _ANY_TEXT,
        "salt": _ANY_TEXT,
        "keyPrefix": _ANY_TEXT,
        "cost": _ANY_NUMBER,
        "keyLength": _ANY_NUMBER,
        "memoryCost": st.none() | _ANY_NUMBER,
        "parallelism": st.none() | st.booleans() | _ANY_NUMBER,
        "data": st.none() | st.dictionaries(_ANY_TEXT, _ANY_TEXT, max_size=2),
    },
)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(_PARAMETER_EDITS)
def test_altcha_the_shortcut_signs_what_the_library_verifies(
    make_altcha: Callable[..., AltchaVerifier], edits: dict[str, Any]
) -> None:
    """Parameters re-signed over the shortcut's canonical JSON: wherever it writes one,
    the library (which writes its own) must find the signature valid; elsewhere the
    shortcut stands aside."""
    verifier = make_altcha()
    issued = json.loads(base64.b64decode(solve_altcha(asyncio.run(verifier.challenge()))))
    parameters = issued["challenge"]["parameters"]
    parameters.update(edits)
    canonical = altcha_module._flat_json(parameters)
    signed_over = canonical if canonical is not None else json.dumps(parameters)
    issued["challenge"]["signature"] = hmac.new(
        SECRET.encode(), signed_over.encode(), hashlib.sha256
    ).hexdigest()
    parsed = altcha.Payload.from_base64(base64.b64encode(json.dumps(issued).encode()).decode())
    library = altcha.verify_solution(parsed, SECRET, hmac_key_secret=verifier._key_secret)
    assert verifier.issued_and_solved(parsed) is (canonical is not None)
    if canonical is not None:
        assert library.verified


async def test_altcha_a_challenge_without_expiry_is_refused(
    make_altcha: Callable[..., AltchaVerifier],
) -> None:
    """The library accepts a signed challenge that never expires; this server signs
    none, and could not bound how long it remembers one, so it refuses them."""
    verifier = make_altcha()
    issued = await verifier.challenge()
    forever = altcha.create_challenge(
        algorithm="PBKDF2/SHA-256",
        cost=1,
        counter=issued["parameters"].get("counter", 5),
        hmac_secret=SECRET,
    ).to_dict()
    with pytest.raises(ApiError) as info:
        await verifier.verify(solve_altcha(forever), remote_ip=None)
    assert reason_of(info) == "tampered"


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
_PAYLOADS = _JSON | st.fixed_dictionaries(
    {
        "challenge": st.fixed_dictionaries({"parameters": _JSON, "signature": _JSON}),
        "solution": st.fixed_dictionaries({"counter": _JSON, "derivedKey": _JSON}),
    }
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(_PAYLOADS)
def test_altcha_any_other_payload_is_invalid_never_an_error(
    make_altcha: Callable[..., AltchaVerifier], data: Any
) -> None:
    payload = base64.b64encode(json.dumps(data).encode()).decode()
    with pytest.raises(ApiError) as info:
        asyncio.run(make_altcha().check(payload, remote_ip=None))  # check() reads no Redis
    assert info.value.code == "CAPTCHA_INVALID"


async def test_altcha_a_used_payload_is_remembered_until_past_its_expiry(
    make_altcha: Callable[..., AltchaVerifier], aredis: redis.asyncio.Redis
) -> None:
    verifier = make_altcha(expires_s=600)
    used = await verifier.check(await solved(verifier), remote_ip=None)
    assert 600_000 < used.ttl_ms <= (600 + REPLAY_MARGIN_S) * 1000
    assert not await aredis.exists(used.key)  # check() alone uses nothing up


async def test_altcha_from_another_secret_is_rejected(
    make_altcha: Callable[..., AltchaVerifier],
) -> None:
    payload = await solved(make_altcha(secret_key="some other server"))
    with pytest.raises(ApiError) as info:
        await make_altcha().verify(payload, remote_ip=None)
    assert reason_of(info) == "tampered"


@pytest.mark.parametrize(
    "payload",
    ["not base64 at all!", "bm90IGpzb24=", base64.b64encode(b"[1, 2]").decode(), "x" * 9000],
)
async def test_altcha_malformed_payloads_are_rejected(
    make_altcha: Callable[..., AltchaVerifier], payload: str
) -> None:
    with pytest.raises(ApiError) as info:
        await make_altcha().verify(payload, remote_ip=None)
    assert info.value.code == "CAPTCHA_INVALID"
    assert reason_of(info) == "malformed"


@pytest.mark.parametrize("payload", [None, "", "   "])
async def test_missing_payload_is_required(
    make_altcha: Callable[..., AltchaVerifier], payload: str | None
) -> None:
    with pytest.raises(ApiError) as info:
        await make_altcha().verify(payload, remote_ip=None)
    assert info.value.code == "CAPTCHA_REQUIRED"


def test_altcha_needs_a_secret(aredis: redis.asyncio.Redis) -> None:
    with pytest.raises(ValueError, match="SECRET_KEY"):
        AltchaVerifier(secret_key="", max_number=10, expires_s=60, redis=aredis)


# --- factory


async def test_factory_builds_altcha_by_default(
    redis_url: str, aredis: redis.asyncio.Redis
) -> None:
    settings = Settings.from_env({}, redis_url=redis_url, captcha_max_number=100)
    verifier = make_verifier(settings, aredis)
    assert isinstance(verifier, AltchaVerifier)
    await verifier.verify(await solved(verifier), remote_ip=None)


async def test_factory_off_warns_and_accepts_anything(
    aredis: redis.asyncio.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings.from_env({}, captcha_provider="off")
    with caplog.at_level(logging.WARNING, logger="server.abuse.captcha.off"):
        verifier = make_verifier(settings, aredis)
    assert isinstance(verifier, OffVerifier)
    assert any(r.levelno == logging.WARNING and "OFF" in r.message for r in caplog.records)
    assert await verifier.challenge() is None
    await verifier.verify(None, remote_ip=None)


@pytest.mark.parametrize("provider", ["turnstile", "hcaptcha", "recaptcha"])
def test_factory_builds_siteverify_with_real_urls(
    aredis: redis.asyncio.Redis, provider: str
) -> None:
    settings = Settings.from_env({}, captcha_provider=provider, captcha_secret="s")
    verifier = make_verifier(settings, aredis)
    assert isinstance(verifier, SiteverifyVerifier)
    assert verifier.verify_url.startswith("https://")
    assert "siteverify" in verifier.verify_url


# --- siteverify, against a stand-in provider on 127.0.0.1


@dataclass
class FakeProvider:
    """A local siteverify endpoint; ``answer`` decides each reply."""

    url: str
    answer: str = "yes"  # yes | no | low-score | http-500 | not-json | list | hang
    requests: list[dict[str, list[str]]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)


@pytest.fixture
def fake_provider() -> Iterator[FakeProvider]:
    provider = FakeProvider(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            form = parse_qs(self.rfile.read(length).decode())
            provider.requests.append(form)
            if provider.answer == "hang":
                provider.release.wait(timeout=10)
            status, body = {
                "yes": (200, {"success": True, "hostname": "booth.example.org"}),
                "no": (200, {"success": False, "error-codes": ["invalid-input-response"]}),
                "low-score": (200, {"success": True, "score": 0.1}),
                "http-500": (500, {"success": True}),
                "list": (200, [True]),
            }.get(provider.answer, (200, None))
            data = b"<html>oops" if body is None else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output clean

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    provider.url = f"http://127.0.0.1:{server.server_port}/siteverify"
    # A short poll interval only makes shutdown() return sooner.
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield provider
    provider.release.set()
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
def make_siteverify(
    aredis: redis.asyncio.Redis, fake_provider: FakeProvider, http: httpx.AsyncClient
) -> Callable[..., SiteverifyVerifier]:
    def make(**overrides: Any) -> SiteverifyVerifier:
        values: dict[str, Any] = {
            "provider": "turnstile",
            "secret": "provider-secret",
            "site_key": "site-key",
            "redis": aredis,
            "http": http,
            "verify_url": fake_provider.url,
            "timeout_s": 2.0,
        }
        values.update(overrides)
        return SiteverifyVerifier(**values)

    return make


@pytest.mark.parametrize("provider", ["turnstile", "hcaptcha", "recaptcha"])
async def test_siteverify_accepts_what_the_provider_accepts(
    make_siteverify: Callable[..., SiteverifyVerifier], fake_provider: FakeProvider, provider: str
) -> None:
    verifier = make_siteverify(provider=provider)
    assert await verifier.challenge() is None
    await verifier.verify("token-1", remote_ip="198.51.100.4")
    (form,) = fake_provider.requests
    assert form["secret"] == ["provider-secret"]
    assert form["response"] == ["token-1"]
    assert form["remoteip"] == ["198.51.100.4"]
    assert ("sitekey" in form) == (provider == "hcaptcha")


async def test_siteverify_token_is_accepted_once(
    make_siteverify: Callable[..., SiteverifyVerifier],
) -> None:
    verifier = make_siteverify()
    await verifier.verify("token-1", remote_ip=None)
    with pytest.raises(ApiError) as info:
        await verifier.verify("token-1", remote_ip=None)
    assert reason_of(info) == "replayed"


async def test_siteverify_works_without_a_shared_client(
    make_siteverify: Callable[..., SiteverifyVerifier], fake_provider: FakeProvider
) -> None:
    await make_siteverify(http=None).verify("token-1", remote_ip=None)
    assert len(fake_provider.requests) == 1


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ("no", "rejected"),
        ("low-score", "rejected"),
        ("http-500", "unavailable"),
        ("not-json", "unavailable"),
        ("list", "unavailable"),
    ],
)
async def test_siteverify_rejects_anything_but_a_clear_yes(
    make_siteverify: Callable[..., SiteverifyVerifier],
    fake_provider: FakeProvider,
    answer: str,
    reason: str,
) -> None:
    fake_provider.answer = answer
    with pytest.raises(ApiError) as info:
        await make_siteverify().verify("token-1", remote_ip=None)
    assert info.value.code == "CAPTCHA_INVALID"
    assert reason_of(info) == reason


async def test_siteverify_timeout_is_invalid(
    make_siteverify: Callable[..., SiteverifyVerifier], fake_provider: FakeProvider
) -> None:
    fake_provider.answer = "hang"
    started = time.monotonic()
    with pytest.raises(ApiError) as info:
        await make_siteverify(timeout_s=0.3).verify("token-1", remote_ip=None)
    assert time.monotonic() - started < 3
    assert info.value.code == "CAPTCHA_INVALID"
    assert reason_of(info) == "unavailable"


async def test_siteverify_unreachable_provider_is_invalid(
    make_siteverify: Callable[..., SiteverifyVerifier],
) -> None:
    # Port 9 on loopback: nothing listens, the connection is refused at once.
    verifier = make_siteverify(verify_url="http://127.0.0.1:9/siteverify")
    with pytest.raises(ApiError) as info:
        await verifier.verify("token-1", remote_ip=None)
    assert reason_of(info) == "unavailable"


async def test_siteverify_missing_token_is_required_without_asking(
    make_siteverify: Callable[..., SiteverifyVerifier], fake_provider: FakeProvider
) -> None:
    with pytest.raises(ApiError) as info:
        await make_siteverify().verify("", remote_ip=None)
    assert info.value.code == "CAPTCHA_REQUIRED"
    assert fake_provider.requests == []

"""Logging: JSON lines, readable lines, request ids through the middleware, redaction."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket

from server.logs import (
    REDACTED,
    RequestIdMiddleware,
    configure_logging,
    request_id_var,
    valid_request_id,
)
from server.settings import Settings

SECRET = "s3cr3t-signing-key-value"
PASSWORD = "organiser-pass-123"
REDIS_PASSWORD = "redis-pass-456"

log = logging.getLogger("tests.logs")


@pytest.fixture
def capture() -> Iterator[Callable[..., io.StringIO]]:
    """Factory: configure logging into a buffer; the root and uvicorn loggers are
    restored afterwards."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    uvicorn = [logging.getLogger(n) for n in ("uvicorn", "uvicorn.error", "uvicorn.access")]
    saved_uvicorn = [(lg.handlers[:], lg.propagate) for lg in uvicorn]

    def make(**overrides: Any) -> io.StringIO:
        values: dict[str, Any] = {
            "secret_key": SECRET,
            "organiser_password": PASSWORD,
            "redis_url": f"redis://:{REDIS_PASSWORD}@redis:6379/0",
        }
        values.update(overrides)
        buffer = io.StringIO()
        configure_logging(Settings(**values), stream=buffer)
        return buffer

    yield make
    for handler in root.handlers[:]:
        if handler not in saved_handlers:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(saved_level)
    for lg, (handlers, propagate) in zip(uvicorn, saved_uvicorn, strict=True):
        lg.handlers[:] = handlers
        lg.propagate = propagate


def lines(buffer: io.StringIO) -> list[str]:
    return buffer.getvalue().splitlines()


def records(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in lines(buffer)]


# --- formats


def test_json_lines_carry_the_standard_and_extra_fields(
    capture: Callable[..., io.StringIO],
) -> None:
    buffer = capture(log_json=True)
    token = request_id_var.set("req-1")
    try:
        log.info("drew %d pictures", 8, extra={"batch": 8, "worker": "gpu-0"})
    finally:
        request_id_var.reset(token)
    log.warning("outside a request")

    first, second = records(buffer)
    assert first["message"] == "drew 8 pictures"
    assert first["level"] == "INFO"
    assert first["logger"] == "tests.logs"
    assert first["request_id"] == "req-1"
    assert first["batch"] == 8 and first["worker"] == "gpu-0"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", first["ts"])
    assert second["request_id"] is None and second["level"] == "WARNING"


def test_json_includes_the_traceback(capture: Callable[..., io.StringIO]) -> None:
    buffer = capture(log_json=True)
    try:
        raise ValueError("bad prompt")
    except ValueError:
        log.exception("job failed")
    (entry,) = records(buffer)
    assert entry["message"] == "job failed"
    assert "ValueError: bad prompt" in entry["exc"]


def test_production_mode_means_json(capture: Callable[..., io.StringIO]) -> None:
    buffer = capture(mode="production", log_json=False)
    log.info("hello")
    assert records(buffer)[0]["message"] == "hello"


def test_development_lines_are_readable(capture: Callable[..., io.StringIO]) -> None:
    buffer = capture()
    log.info("hello %s", "world", extra={"n": 3})
    token = request_id_var.set("abc")
    try:
        log.info("inside")
    finally:
        request_id_var.reset(token)
    first, second = lines(buffer)
    assert re.search(r" INFO +tests\.logs \[-\] hello world n=3$", first)
    assert "[abc] inside" in second
    with pytest.raises(json.JSONDecodeError):
        json.loads(first)


def test_level_comes_from_settings(capture: Callable[..., io.StringIO]) -> None:
    buffer = capture(log_json=True, log_level="warning")
    log.info("quiet")
    log.warning("loud")
    assert [r["message"] for r in records(buffer)] == ["loud"]


def test_configuring_again_replaces_the_handler(capture: Callable[..., io.StringIO]) -> None:
    first = capture(log_json=True)
    second = capture(log_json=True)
    log.info("once")
    assert lines(first) == []
    assert len(lines(second)) == 1


def test_uvicorn_records_reach_the_handler(capture: Callable[..., io.StringIO]) -> None:
    logging.getLogger("uvicorn.error").addHandler(logging.NullHandler())
    logging.getLogger("uvicorn.access").propagate = False
    buffer = capture(log_json=True)
    logging.getLogger("uvicorn.access").info('%s - "%s %s"', "10.0.0.1", "GET", "/board")
    (entry,) = records(buffer)
    assert entry["logger"] == "uvicorn.access"
    assert logging.getLogger("uvicorn.error").handlers == []


# --- redaction


def test_secret_setting_values_are_redacted_everywhere(capture: Callable[..., io.StringIO]) -> None:
    buffer = capture(log_json=True)
    log.info("key is %s and password %s", SECRET, PASSWORD, extra={"note": f"k={SECRET}"})
    log.info("connecting to redis://:%s@redis:6379/0", REDIS_PASSWORD)
    try:
        raise RuntimeError(f"signature with {SECRET} failed")
    except RuntimeError:
        log.exception("oops")
    text = buffer.getvalue()
    for secret in (SECRET, PASSWORD, REDIS_PASSWORD):
        assert secret not in text
    first, second, _ = records(buffer)
    assert first["message"] == f"key is {REDACTED} and password {REDACTED}"
    assert second["message"] == f"connecting to redis://:{REDACTED}@redis:6379/0"


@pytest.mark.parametrize(
    ("message", "leaked"),
    [
        ("Authorization: Bearer abc.def.ghi", "abc.def.ghi"),
        ("cookie: session=abc123; theme=dark", "abc123"),
        ("GET /graphql?token=tok123&x=1", "tok123"),
        ("Settings(secret_key='zzz111', captcha_secret='yyy222')", "zzz111"),
        ('{"password": "hunter22"}', "hunter22"),
        ("LOOKALIKE_SECRET_KEY=qqq333 set", "qqq333"),
        ("rediss://user:pw-999@host:6380/0", "pw-999"),
    ],
)
def test_secret_looking_fields_are_redacted(
    capture: Callable[..., io.StringIO], message: str, leaked: str
) -> None:
    buffer = capture(log_json=True)
    log.info(message)
    (entry,) = records(buffer)
    assert leaked not in entry["message"]
    assert REDACTED in entry["message"]
    assert f"{REDACTED}]" not in entry["message"].replace(f"[{REDACTED}]", "")


def test_harmless_text_is_left_alone(capture: Callable[..., io.StringIO]) -> None:
    buffer = capture(log_json=True)
    message = "loaded tokenizer for 8 prompts; 3 sessions open"
    log.info(message)
    assert records(buffer)[0]["message"] == message


def test_extra_fields_are_redacted_by_key_and_inside(capture: Callable[..., io.StringIO]) -> None:
    buffer = capture(log_json=True)
    log.info(
        "request",
        extra={
            "headers": {"authorization": "Bearer xyz", "user-agent": "phone"},
            "session_token": "t-1",
            "urls": ["redis://:p4ss@r:6379"],
        },
    )
    (entry,) = records(buffer)
    assert entry["headers"] == {"authorization": REDACTED, "user-agent": "phone"}
    assert entry["session_token"] == REDACTED
    assert entry["urls"] == [f"redis://:{REDACTED}@r:6379"]


# --- request ids


def echo_app() -> Starlette:
    async def http(request: Request) -> JSONResponse:
        log.info("handling")
        return JSONResponse({"request_id": request_id_var.get()})

    async def preset(request: Request) -> PlainTextResponse:
        return PlainTextResponse("x", headers={"X-Request-ID": "from-the-app"})

    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_json({"request_id": request_id_var.get()})
        await websocket.close()

    routes = [Route("/", http), Route("/preset", preset), WebSocketRoute("/ws", ws)]
    return Starlette(routes=routes, middleware=[])


@pytest.fixture
def app() -> RequestIdMiddleware:
    return RequestIdMiddleware(echo_app())


async def get(
    app: RequestIdMiddleware, path: str = "/", request_id: str | bytes | None = None
) -> httpx.Response:
    """GET ``path``, with an ``X-Request-ID`` header when ``request_id`` is given."""
    headers: dict[bytes, bytes] = {}
    if request_id is not None:
        raw = request_id.encode() if isinstance(request_id, str) else request_id
        headers[b"x-request-id"] = raw
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get(path, headers=headers)


async def test_a_request_without_an_id_gets_a_fresh_one(app: RequestIdMiddleware) -> None:
    first, second = await get(app), await get(app)
    rid = first.headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", rid)
    assert first.json() == {"request_id": rid}
    assert second.headers["x-request-id"] != rid
    assert request_id_var.get() is None  # reset after the request


async def test_a_valid_incoming_id_is_kept(app: RequestIdMiddleware) -> None:
    response = await get(app, request_id="caddy-7f3a.1:2")
    assert response.headers["x-request-id"] == "caddy-7f3a.1:2"
    assert response.json() == {"request_id": "caddy-7f3a.1:2"}


@pytest.mark.parametrize("bad", ["x" * 65, "has space", "semi;colon", "-leading", "é"])
async def test_an_unsafe_incoming_id_is_replaced(app: RequestIdMiddleware, bad: str) -> None:
    response = await get(app, request_id=bad.encode())
    rid = response.headers["x-request-id"]
    assert rid != bad and re.fullmatch(r"[0-9a-f]{32}", rid)
    assert not valid_request_id(bad)


async def test_the_response_carries_exactly_one_id(app: RequestIdMiddleware) -> None:
    response = await get(app, "/preset", request_id="mine")
    assert response.headers.get_list("x-request-id") == ["mine"]


async def test_log_records_of_a_request_carry_its_id(
    app: RequestIdMiddleware, capture: Callable[..., io.StringIO]
) -> None:
    buffer = capture(log_json=True)
    await get(app, request_id="trace-42")
    handled = [r for r in records(buffer) if r["message"] == "handling"]
    assert [r["request_id"] for r in handled] == ["trace-42"]


def test_websocket_accept_carries_the_id(app: RequestIdMiddleware) -> None:
    with TestClient(app) as client:
        with client.websocket_connect("/ws", headers={"X-Request-ID": "ws-1"}) as ws:
            assert ws.receive_json() == {"request_id": "ws-1"}
            assert (b"x-request-id", b"ws-1") in (ws.extra_headers or [])
        with client.websocket_connect("/ws") as ws:
            rid = ws.receive_json()["request_id"]
            assert re.fullmatch(r"[0-9a-f]{32}", rid)
            assert (b"x-request-id", rid.encode()) in (ws.extra_headers or [])


async def test_lifespan_passes_through() -> None:
    seen: list[str] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])
        assert request_id_var.get() is None

    await RequestIdMiddleware(inner)({"type": "lifespan"}, None, None)  # type: ignore[arg-type]
    assert seen == ["lifespan"]

"""Every malformed request gets a typed answer (server/api/intake.py), on every path that
answers GraphQL: the fast path, strawberry's view, both WebSocket endpoints.

Real uvicorn, real Redis. Each test also checks the log: a client's mistake is at most a
warning, without a traceback; an ERROR line would mean a bug of ours.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import hypothesis
import hypothesis_graphql as hg
import pytest
import websockets
from hypothesis import strategies as st
from websockets.sync.client import connect

from server.api.intake import GRAPHQL_RESPONSE, JSON, media_type_for
from server.api.view import make_schema
from tests.client import closed_by_server, gql, ws_connect
from tests.organiser_api import PASSWORD, board, join, login, play

pytestmark = pytest.mark.timeout(120)

PROTOCOL = [websockets.Subprotocol("graphql-transport-ws")]
INIT = json.dumps({"type": "connection_init", "payload": {}})
BOARD = "subscription { leaderboard { lastUpdatedAt } }"
FIRST = "query($f: Int!) { leaderboard(first: $f) { lastUpdatedAt } }"
TWO = "query A { __typename } query B { __typename }"
LONE = "\ud800"  # a lone surrogate: json.dumps escapes it, UTF-8 cannot carry it
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def no_errors_logged(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """After the test: nothing at ERROR, no traceback at any level."""
    with caplog.at_level(logging.WARNING):
        yield
    records = [r for phase in ("setup", "call", "teardown") for r in caplog.get_records(phase)]
    bad = [r for r in records if r.levelno >= logging.ERROR or r.exc_info]
    assert bad == [], [r.getMessage() for r in bad]


@pytest.fixture
async def app(live: Any) -> AsyncIterator[Any]:
    async with live(worker=False, organiser_password=PASSWORD) as running:
        yield running


@pytest.fixture
async def http(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=app.base_url, timeout=30) as client:
        yield client


def body(query: str, variables: str = "{}", extra: str = "") -> bytes:
    """A JSON body written by hand (so that it may hold what json.dumps would not)."""
    return f'{{"query": {json.dumps(query)}, "variables": {variables}{extra}}}'.encode()


# (name, content, content type, status, code): refused before any GraphQL runs,
# the same status whatever the client accepts.
REFUSED: list[tuple[str, bytes, str | None, int, str]] = [
    ("null", b"null", JSON, 400, "BAD_REQUEST"),
    ("a string", b'"x"', JSON, 400, "BAD_REQUEST"),
    ("a number", b"123", JSON, 400, "BAD_REQUEST"),
    ("a batch", b'[{"query": "{ __typename }"}]', JSON, 400, "BAD_REQUEST"),
    ("not JSON", b'{ "not a JSON', JSON, 400, "BAD_REQUEST"),
    ("no body", b"", JSON, 400, "BAD_REQUEST"),
    ("invalid UTF-8", b'{"query": "{ __typename }", "operationName": "\xff"}', JSON, 400,
     "BAD_REQUEST"),
    ("deep JSON in variables", body(FIRST, '{"f": ' + "[" * 5000 + "]" * 5000 + "}"), JSON,
     400, "BAD_REQUEST"),
    ("a 5,000-digit integer", body(FIRST, '{"f": ' + "9" * 5000 + "}"), JSON, 400,
     "BAD_REQUEST"),
    ("a lone surrogate in operationName", body("{ __typename }", "{}",
     f', "operationName": {json.dumps(LONE)}'), JSON, 400, "INVALID_INPUT"),
    ("a query that is a number", b'{"query": 5}', JSON, 400, "BAD_REQUEST"),
    ("no query", b'{"variables": {}}', JSON, 400, "BAD_REQUEST"),
    ("variables that are a list", body("{ __typename }", "[1]"), JSON, 400, "BAD_REQUEST"),
    ("another content type", body("{ __typename }"), "text/plain", 415,
     "UNSUPPORTED_MEDIA_TYPE"),
    ("no content type", body("{ __typename }"), None, 415, "UNSUPPORTED_MEDIA_TYPE"),
    ("another charset", body("{ __typename }"), "application/json; charset=latin-1", 415,
     "UNSUPPORTED_MEDIA_TYPE"),
]  # fmt: skip

# (name, content, code): GraphQL request errors: 200 as application/json, 400 as
# application/graphql-response+json, and no `data` entry either way.
REQUEST_ERRORS: list[tuple[str, bytes, str]] = [
    ("a syntax error", body("{ __typename"), "GRAPHQL_PARSE_FAILED"),
    ("a lone surrogate escaped in the document", body('{ claim(code: "\\ud800") { id } }'),
     "GRAPHQL_PARSE_FAILED"),
    ("a document nested too deeply", body("{ a " * 400 + "}" * 400), "GRAPHQL_PARSE_FAILED"),
    ("an unknown field", body("{ nosuchfield }"), "GRAPHQL_VALIDATION_FAILED"),
    ("a spread of an unknown fragment", body("{ ...Nope }"), "GRAPHQL_VALIDATION_FAILED"),
    ("an unknown operation name", body(TWO, "{}", ', "operationName": "C"'), "BAD_REQUEST"),
    ("several operations and no name", body(TWO), "BAD_REQUEST"),
    ("a subscription", body(BOARD), "BAD_REQUEST"),
    ("a string for an Int", body(FIRST, '{"f": "10"}'), "INVALID_INPUT"),
    ("null for an Int!", body(FIRST, '{"f": null}'), "INVALID_INPUT"),
    ("no value for an Int!", body(FIRST, "{}"), "INVALID_INPUT"),
    ("2^63 for an Int", body(FIRST, '{"f": 9223372036854775808}'), "INVALID_INPUT"),
    ("1.5 for an Int", body(FIRST, '{"f": 1.5}'), "INVALID_INPUT"),
    ("NaN for an Int", body(FIRST, '{"f": NaN}'), "INVALID_INPUT"),
    ('"true" for a Boolean', body("query($b: Boolean!) { __typename @include(if: $b) }",
     '{"b": "true"}'), "INVALID_INPUT"),
]  # fmt: skip


def error_code(response: httpx.Response) -> str:
    """The answer's one error code, after checking it is a JSON GraphQL response."""
    assert response.headers["content-type"].split(";")[0] in (JSON, GRAPHQL_RESPONSE)
    reply = response.json()
    (error,) = reply["errors"]
    assert error["message"]
    code: str = error["extensions"]["code"]
    assert code != "INTERNAL"
    return code


@pytest.mark.parametrize("fast_path", [True, False], ids=["fast path", "view"])
async def test_a_malformed_request_is_refused_with_a_code(live: Any, fast_path: bool) -> None:
    async with (
        live(worker=False, http_fast_path=fast_path) as app,
        httpx.AsyncClient(base_url=app.base_url) as http,
    ):
        for name, content, content_type, status, code in REFUSED:
            for accept in (JSON, GRAPHQL_RESPONSE):
                headers = {"accept": accept}
                if content_type is not None:
                    headers["content-type"] = content_type
                response = await http.post("/graphql", content=content, headers=headers)
                assert (response.status_code, error_code(response)) == (status, code), name
                assert response.headers["content-type"] == accept, name


async def test_a_request_error_has_the_status_of_its_media_type(http: httpx.AsyncClient) -> None:
    statuses = ((JSON, 200), (GRAPHQL_RESPONSE, 400), (f"{GRAPHQL_RESPONSE}, {JSON}", 400))
    for name, content, code in REQUEST_ERRORS:
        for accept, status in statuses:
            headers = {"content-type": JSON, "accept": accept}
            response = await http.post("/graphql", content=content, headers=headers)
            assert (response.status_code, error_code(response)) == (status, code), (name, accept)
            assert "data" not in response.json(), name


async def test_other_methods_get_a_typed_405(http: httpx.AsyncClient) -> None:
    for method in ("GET", "PUT", "DELETE", "PATCH", "OPTIONS"):
        response = await http.request(method, "/graphql", params={"query": "{ __typename }"})
        assert (response.status_code, error_code(response)) == (405, "METHOD_NOT_ALLOWED")
        assert response.headers["allow"] == "POST"


def test_the_answer_takes_the_first_media_type_the_client_accepts() -> None:
    assert media_type_for(None) == JSON
    assert media_type_for("*/*") == JSON
    assert media_type_for(f"{GRAPHQL_RESPONSE}, {JSON}") == GRAPHQL_RESPONSE
    assert media_type_for(f"{JSON}, {GRAPHQL_RESPONSE}") == JSON
    assert media_type_for(f"{GRAPHQL_RESPONSE};q=0, {JSON}") == JSON
    assert media_type_for("text/html") == JSON


async def test_lone_surrogates_never_reach_redis(http: httpx.AsyncClient) -> None:
    token = await login(http)
    auth = {"authorization": f"Bearer {token}", "content-type": JSON}
    for content in (
        body("query($c: String!) { claim(code: $c) { id } }", json.dumps({"c": LONE})),
        body("query($b: String) { auditLog(before: $b) { id } }", json.dumps({"b": "x" + LONE})),
        body("mutation($p: String!) { organiserLogin(password: $p) { token } }", '{"p": 1}')
        .replace(b"1", json.dumps(LONE).encode()),
        body("mutation($n: String!) { join(nickname: $n) { token } }", json.dumps({"n": LONE})),
    ):
        response = await http.post("/graphql", content=content, headers=auth)
        assert (response.status_code, error_code(response)) == (400, "INVALID_INPUT")
    # A pair of surrogates is one character, and fine.
    pair = body("query($c: String!) { claim(code: $c) { id } }", '{"c": "\\ud83e\\udd86"}')
    assert (await http.post("/graphql", content=pair, headers=auth)).json() == {
        "data": {"claim": None}
    }


async def test_an_audit_page_must_start_at_an_entry_id(http: httpx.AsyncClient) -> None:
    token = await login(http)
    query = "query($b: String) { auditLog(before: $b) { id } }"
    data = await gql(http, query, {"b": None}, token)
    assert data["auditLog"]  # the login itself
    assert await gql(http, query, {"b": data["auditLog"][0]["id"]}, token) == {"auditLog": []}
    response = await http.post(
        "/graphql",
        json={"query": query, "variables": {"b": "garbage"}},
        headers={"authorization": f"Bearer {token}"},
    )
    assert (response.status_code, error_code(response)) == (200, "INVALID_INPUT")


# ---------------------------------------------------------------- WebSocket

def subscribe(payload: object, operation_id: object = "1") -> str:
    return json.dumps({"id": operation_id, "type": "subscribe", "payload": payload})


# Messages after a successful connection_init, each closing the socket with 4400.
CLOSING: list[tuple[str, str]] = [
    ("a list", "[]"),
    ("a string", '"x"'),
    ("a number", "1"),
    ("null", "null"),
    ("deep JSON", "[" * 5000 + "]" * 5000),
    ("a 5,000-digit integer", '{"type": "ping", "payload": ' + "9" * 5000 + "}"),
    ("an id that is a list", subscribe({"query": BOARD}, ["1"])),
    ("an id that is an object", subscribe({"query": BOARD}, {"a": 1})),
    ("an id that is a lone surrogate", subscribe({"query": BOARD}, LONE)),
    ("a payload that is null", subscribe(None)),
    ("a payload that is a string", subscribe("{ __typename }")),
    ("a payload that is a list", subscribe([BOARD])),
    ("a query that is a number", subscribe({"query": 1})),
    ("a query that is a list", subscribe({"query": [BOARD]})),
    ("a query that is an object", subscribe({"query": {"query": BOARD}})),
    ("variables that are a string", subscribe({"query": BOARD, "variables": "x"})),
    ("a complete whose id is a list", json.dumps({"type": "complete", "id": []})),
    ("a ping with a lone surrogate", json.dumps({"type": "ping", "payload": {"x": LONE}})),
]  # fmt: skip

PATHS = ["/graphql", "/graphql/screen"]


def ws_url(app: Any, path: str) -> str:
    return app.ws_url.removesuffix("/graphql") + path


@pytest.mark.parametrize("path", PATHS)
async def test_a_malformed_message_closes_the_socket_with_4400(app: Any, path: str) -> None:
    for name, message in CLOSING:
        async with websockets.connect(ws_url(app, path), subprotocols=PROTOCOL) as ws:
            await ws.send(INIT)
            assert json.loads(await ws.recv())["type"] == "connection_ack"
            await ws.send(message)
            code, reason = await closed_by_server(ws, timeout=10)
        assert (code, bool(reason)) == (4400, True), name


@pytest.mark.parametrize("path", PATHS)
async def test_a_token_that_is_not_unicode_closes_the_socket(app: Any, path: str) -> None:
    init = json.dumps({"type": "connection_init", "payload": {"token": LONE}})
    async with websockets.connect(ws_url(app, path), subprotocols=PROTOCOL) as ws:
        await ws.send(init)
        code, reason = await closed_by_server(ws, timeout=10)
    assert code == 4400 and reason


async def next_message(ws: Any, operation_id: str) -> dict[str, Any]:
    async with asyncio.timeout(10):
        while True:
            message: dict[str, Any] = json.loads(await ws.recv())
            if message.get("id") == operation_id and message["type"] in ("error", "next"):
                return message


@pytest.mark.parametrize("path", PATHS)
async def test_an_operation_with_text_that_is_not_unicode_gets_an_error(
    app: Any, path: str
) -> None:
    bad = subscribe({"query": BOARD, "variables": {"x": LONE}}, "7")
    async with websockets.connect(ws_url(app, path), subprotocols=PROTOCOL) as ws:
        await ws.send(INIT)
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(bad)
        error = await next_message(ws, "7")
        assert error["type"] == "error"
        assert error["payload"][0]["extensions"]["code"] == "INVALID_INPUT"
        await ws.send(json.dumps({"type": "ping"}))
        assert json.loads(await ws.recv())["type"] == "pong"  # still open


@pytest.mark.parametrize("path", PATHS)
async def test_the_operation_past_the_limit_gets_a_code(app: Any, path: str) -> None:
    async with websockets.connect(ws_url(app, path), subprotocols=PROTOCOL) as ws:
        await ws.send(INIT)
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        for op in range(9):
            await ws.send(subscribe({"query": BOARD}, str(op)))
        error = await next_message(ws, "8")
    assert error["type"] == "error"
    assert error["payload"][0]["extensions"]["code"] == "RATE_LIMITED"
    assert "limit" in error["payload"][0]["message"]


async def test_a_healthy_socket_still_works_after_a_bad_operation(app: Any) -> None:
    async with ws_connect(app.ws_url) as ws:
        with pytest.raises(Exception, match="Cannot query"):
            await ws.execute("{ nope }")
        assert (await ws.execute("{ event { status } }"))["event"]["status"] == "OPEN"


# ---------------------------------------------------------------- the spec's audit


async def test_the_graphql_over_http_audit_passes(live: Any) -> None:
    """graphql-http's ``auditServer``: no MUST (error) and no SHOULD (warn) fails."""
    node = shutil.which("node")
    if node is None or not (ROOT / "web" / "node_modules" / "graphql-http").is_dir():
        pytest.skip("needs Node.js and web/'s dev dependencies (`npm ci` in web/)")
    async with live(worker=False, dev_graphiql=True) as app:
        process = await asyncio.create_subprocess_exec(
            node,
            str(ROOT / "tests" / "graphql_http_audit.mjs"),
            f"{app.base_url}/graphql",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    report = json.loads(out)
    assert report["audits"] > 50
    failing = [f for f in report["failed"] if f["status"] in ("error", "warn")]
    assert failing == []


# ---------------------------------------------------------------- fuzzing

# Organiser mutations fuzzed as the organiser: those that would end the game for the
# flow afterwards (close, freeze, switch or schedule the event, hold for review, log
# out) are left out; everyone else may send any mutation.
ORGANISER_MUTATIONS = [
    "organiserLogin", "setEventTarget", "openEvent", "hideSubmission", "unhideSubmission",
    "approveSubmission", "banParticipant", "unbanParticipant", "prepareRaffle",
    "drawRaffle", "redrawRaffle", "join", "submitPrompt",
]  # fmt: skip
VARIABLE_QUERIES = [
    FIRST,
    "mutation($n: String!) { join(nickname: $n) { token } }",
    "mutation($p: String!) { submitPrompt(prompt: $p) { id } }",
    "query($b: Boolean!) { __typename @include(if: $b) }",
]
CONTENT_TYPES = [JSON, "application/json; charset=utf-8", "text/plain", "application/graphql"]
FUZZ = hypothesis.settings(
    max_examples=60,
    deadline=timedelta(seconds=5),
    derandomize=True,
    database=None,
    suppress_health_check=list(hypothesis.HealthCheck),
)

_text = st.one_of(st.text(max_size=8), st.sampled_from([LONE, "\udfff", "", "1", "{"]))
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | _text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=8,
)


def checked(reply: dict[str, Any]) -> None:
    """Every error in a GraphQL reply has a code, and none is INTERNAL."""
    errors = reply.get("errors") or reply.get("payload") or []
    if isinstance(errors, dict):
        errors = errors.get("errors") or []
    for error in errors:
        assert error["extensions"]["code"] not in ("", None, "INTERNAL"), error


def check_http(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text
    assert response.headers["content-type"] in (JSON, GRAPHQL_RESPONSE), response.text
    checked(response.json())


def fuzz_http(base_url: str, sdl: str, player: str, organiser: str) -> None:
    """Schema-driven documents (valid and invalid) as anonymous, player and organiser,
    then hand-made bodies: all in this (the test's worker) thread, the server runs in
    the event loop."""
    everyone = st.one_of(
        *(hg.queries(sdl, mode=mode) for mode in hg.Mode),
        *(hg.mutations(sdl, mode=mode) for mode in hg.Mode),
    )
    as_organiser = st.one_of(
        *(hg.queries(sdl, mode=mode) for mode in hg.Mode),
        *(hg.mutations(sdl, fields=ORGANISER_MUTATIONS, mode=mode) for mode in hg.Mode),
    )
    requests = st.one_of(
        st.tuples(st.sampled_from(["", player]), everyone),
        st.tuples(st.just(organiser), as_organiser),
    )
    variables = st.dictionaries(st.sampled_from(["f", "n", "p", "b"]), _json, max_size=2)
    with_variables = st.fixed_dictionaries(
        {"query": st.sampled_from(VARIABLE_QUERIES), "variables": variables}
    )
    bodies = st.one_of(
        _json.map(lambda v: json.dumps(v).encode()),
        with_variables.map(lambda v: json.dumps(v).encode()),
        st.fixed_dictionaries(
            {}, optional={k: _json for k in ("query", "variables", "operationName", "extensions")}
        ).map(lambda v: json.dumps(v).encode()),
        st.binary(max_size=64),
    )
    with httpx.Client(base_url=base_url, timeout=30) as http:

        @hypothesis.settings(FUZZ, max_examples=150)
        @hypothesis.given(request=requests, accept=st.sampled_from([JSON, GRAPHQL_RESPONSE]))
        def documents(request: tuple[str, str], accept: str) -> None:
            token, query = request
            headers = {"accept": accept} | ({"authorization": f"Bearer {token}"} if token else {})
            check_http(http.post("/graphql", json={"query": query}, headers=headers))

        @FUZZ
        @hypothesis.given(content=bodies, content_type=st.sampled_from(CONTENT_TYPES))
        def hand_made(content: bytes, content_type: str) -> None:
            headers = {"content-type": content_type}
            check_http(http.post("/graphql", content=content, headers=headers))

        documents()
        hand_made()


def fuzz_ws(url: str) -> None:
    """Hand-made messages after connection_init: each gets the protocol's answer (an
    error or a close frame with 44xx), and the socket still answers a ping if open."""
    payloads = st.fixed_dictionaries(
        {"query": _json | st.just(BOARD)}, optional={"variables": _json, "operationName": _json}
    )
    kinds = st.sampled_from(["subscribe", "complete", "ping", "connection_init"])
    messages = _json | st.fixed_dictionaries(
        {"type": kinds}, optional={"id": _json | _text, "payload": _json | payloads}
    )

    @FUZZ
    @hypothesis.given(message=messages)
    def one(message: object) -> None:
        with connect(url, subprotocols=PROTOCOL, open_timeout=10) as ws:
            ws.send(INIT)
            assert json.loads(ws.recv(10))["type"] == "connection_ack"
            try:
                ws.send(json.dumps(message))
                ws.send(json.dumps({"type": "ping"}))
                while (reply := json.loads(ws.recv(10)))["type"] != "pong":
                    checked(reply)
            except websockets.ConnectionClosed:
                assert ws.close_code is not None and 4400 <= ws.close_code < 4500, ws.close_code

    one()


async def test_fuzzing_finds_only_typed_answers_and_the_game_goes_on(live: Any) -> None:
    """No 5xx, no non-JSON answer, no error without a code, no INTERNAL, no ERROR log
    line (see ``no_errors_logged``); then join -> submit -> score -> board still works."""
    generous = {
        "ip_rate_per_s": 1000.0, "ip_burst": 100_000, "organiser_login_rate_per_s": 1000.0,
        "organiser_login_burst": 100_000,
    }  # fmt: skip
    async with (
        live(organiser_password=PASSWORD, **generous) as app,
        httpx.AsyncClient(base_url=app.base_url, timeout=30) as http,
    ):
        organiser = await login(http)
        _, player = await join(http, "fuzzy")
        sdl = make_schema(app.settings).as_str()
        await asyncio.to_thread(fuzz_http, app.base_url, sdl, player, organiser)
        for path in PATHS:
            await asyncio.to_thread(fuzz_ws, ws_url(app, path))

        _, token = await join(http, "after-the-storm")
        scored = await play(app, http, token, "a duck in the rain")
        assert scored["status"] == "DONE" and scored["score"] is not None
        ranked = await board(http)
        assert scored["id"] in [s["id"] for s in ranked["submissions"]]

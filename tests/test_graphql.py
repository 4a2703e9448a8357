"""GraphQL and WebSocket hardening: each limit answers with a clear error or close code."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from graphql import GraphQLError

from server.api.view import make_schema
from server.errors import ApiError
from server.state.connection import EmbeddedRedis, free_port
from tests.client import GraphQLErrors, closed_by_server, gql, ws_connect

pytestmark = pytest.mark.timeout(60)

PROTOCOL = [websockets.Subprotocol("graphql-transport-ws")]
INIT = json.dumps({"type": "connection_init", "payload": {}})


@pytest.fixture
async def app(live: Any) -> AsyncIterator[Any]:
    async with live(worker=False) as running:
        yield running


@pytest.fixture
async def http(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=app.base_url, timeout=30) as client:
        yield client


async def test_a_socket_that_never_initialises_is_closed(app: Any) -> None:
    async with websockets.connect(app.ws_url, subprotocols=PROTOCOL) as ws:
        assert (await closed_by_server(ws))[0] == 4408


async def test_subscriptions_per_connection_are_capped(app: Any) -> None:
    async with websockets.connect(app.ws_url, subprotocols=PROTOCOL) as ws:
        await ws.send(INIT)
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        board = "subscription { leaderboard { lastUpdatedAt } }"
        for op in range(9):
            await ws.send(
                json.dumps({"id": str(op), "type": "subscribe", "payload": {"query": board}})
            )
        refused = None
        async with asyncio.timeout(15):
            while refused is None:
                message = json.loads(await ws.recv())
                if message["type"] == "error":
                    refused = message
        assert refused["id"] == "8"
        assert "limit" in refused["payload"][0]["message"].lower()
        assert refused["payload"][0]["extensions"]["code"] == "RATE_LIMITED"


async def test_a_page_on_another_origin_cannot_open_the_socket(app: Any) -> None:
    with pytest.raises(websockets.InvalidStatus) as caught:
        async with websockets.connect(
            app.ws_url, subprotocols=PROTOCOL, origin=websockets.Origin("https://evil.example")
        ):
            pass
    assert caught.value.response.status_code == 403
    same = websockets.Origin(app.base_url)
    async with ws_connect(app.ws_url, origin=same) as ws:
        assert (await ws.execute("{ event { status } }"))["event"]["status"] == "OPEN"


async def test_deep_and_wide_queries_are_refused(http: httpx.AsyncClient) -> None:
    deep = "{ me { submissions { id } } " + "}"
    assert "me" in await gql(http, deep)  # fine
    nested = "{ " + "me { " * 12 + "id" + " }" * 12 + " }"
    with pytest.raises(GraphQLErrors) as caught:
        await gql(http, nested)
    assert caught.value.code == "GRAPHQL_VALIDATION_FAILED"
    aliases = "{ " + " ".join(f"a{i}: event {{ id }}" for i in range(20)) + " }"
    with pytest.raises(GraphQLErrors) as caught:
        await gql(http, aliases)
    assert caught.value.code == "GRAPHQL_VALIDATION_FAILED"
    assert "alias" in caught.value.errors[0]["message"].lower()


async def test_introspection_is_off_outside_development(http: httpx.AsyncClient) -> None:
    with pytest.raises(GraphQLErrors) as caught:
        await gql(http, "{ __schema { types { name } } }")
    assert caught.value.code == "GRAPHQL_VALIDATION_FAILED"
    ide = await http.get("/graphql", headers={"accept": "text/html"})
    assert ide.status_code >= 400 or "graphiql" not in ide.text.lower()


async def test_limits_apply_over_the_websocket_too(app: Any) -> None:
    submit = "mutation($p: String!) { submitPrompt(prompt: $p) { id status } }"
    async with ws_connect(app.ws_url) as anonymous:
        token = (await anonymous.execute('mutation { join(nickname: "ws") { token } }'))["join"][
            "token"
        ]
    async with ws_connect(app.ws_url, {"token": token}) as ws:
        assert (await ws.execute(submit, {"p": "a duck"}))["submitPrompt"]["status"] == "QUEUED"
        with pytest.raises(GraphQLErrors) as caught:
            await ws.execute(submit, {"p": "another duck"})
    assert caught.value.code == "IN_FLIGHT"


def test_errors_get_codes_and_only_the_unexpected_are_logged(
    make_settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    schema = make_schema(make_settings())
    refused = GraphQLError("slow", original_error=ApiError("RATE_LIMITED", "slow down"))
    syntax = GraphQLError("Syntax Error: Expected Name, found <EOF>.")
    boom = GraphQLError("boom", path=["submitPrompt"], original_error=KeyError("a secret"))
    with caplog.at_level(logging.DEBUG):
        schema.process_errors([refused, syntax, boom])
        schema.process_errors([boom])  # labelled already: not logged again
    assert [e.extensions for e in (refused, syntax, boom)] == [
        {"code": "RATE_LIMITED"}, {"code": "GRAPHQL_PARSE_FAILED"}, {"code": "INTERNAL"}
    ]  # fmt: skip
    assert "secret" not in boom.message
    (logged,) = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert logged.exc_info is not None and logged.exc_info[1] is boom.original_error


async def test_a_refused_request_is_not_an_error_in_the_log(
    http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.clear()  # the server's start-up
    with caplog.at_level(logging.INFO):
        for query in ("{ nosuchfield }", 'mutation { submitPrompt(prompt: "a duck") { id } }'):
            reply = (await http.post("/graphql", json={"query": query})).json()
            assert reply["errors"][0]["extensions"]["code"]
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_a_huge_comment_is_refused_by_the_length_limit(app: Any) -> None:
    """The token limit counts a comment as one token: the length limit catches it, over
    HTTP and over the WebSocket alike, before parsing."""
    padded = "{ event { status } } #" + "x" * 50_000
    async with httpx.AsyncClient(base_url=app.base_url, timeout=30) as http:
        with pytest.raises(GraphQLErrors) as caught:
            await gql(http, padded)
    assert caught.value.code == "PAYLOAD_TOO_LARGE"
    assert "at most 10000" in str(caught.value)  # the default LOOKALIKE_MAX_DOCUMENT_CHARS
    async with ws_connect(app.ws_url) as ws:
        with pytest.raises(GraphQLErrors) as caught:
            await ws.execute(padded)
        assert caught.value.code == "PAYLOAD_TOO_LARGE"
        assert (await ws.execute("{ event { status } }"))["event"]["status"] == "OPEN"


def test_documents_that_fail_are_not_cached(make_settings: Any) -> None:
    """A stream of junk documents neither fills the document cache nor pushes out the
    pages' own documents."""
    schema = make_schema(make_settings())
    good = "{ event { status } }"
    assert schema.prepared(good) is not None
    for n in range(300):
        assert schema.prepared(f"{{ event {{ status }} junk{n}") is None  # does not parse
        assert schema.prepared(f"{{ nosuchfield{n} }}") is None  # does not validate
    assert schema.prepared("{ event { status } } #" + "x" * 20_000) is None  # too long
    assert schema.prepared(good) is not None
    info = schema.documents.cache_info()
    assert (info.currsize, info.hits) == (1, 1)


async def snapshot_reads(redis_url: str) -> int:
    """Board reads so far: each snapshot reads the board's sorted set once (a ZRANGE in the
    board-reading script: Redis counts the commands scripts run), and nothing else reads a
    sorted set while no worker is running. (Scripts are no measure: every event read runs
    one, for the event's phase.)"""
    from server.state.connection import async_client

    client = async_client(redis_url)
    try:
        stats = await client.info("commandstats")
    finally:
        await client.aclose()
    return int(stats.get("cmdstat_zrange", {}).get("calls", 0))


async def test_aliased_leaderboards_cost_one_snapshot(
    app: Any, http: httpx.AsyncClient, redis_url: str
) -> None:
    """The attack: fifteen aliases of `leaderboard` in one request read the board fifteen
    times. One read per operation now, on the fast path and over the WebSocket alike."""
    one = "{ a0: leaderboard(first: 1) { lastUpdatedAt } }"
    aliases = (f"a{i}: leaderboard(first: {i + 1}) {{ lastUpdatedAt }}" for i in range(15))
    many = "{ " + " ".join(aliases) + " }"
    await gql(http, one)  # warm: scripts loaded
    async with ws_connect(app.ws_url) as ws:
        costs = []
        for execute in (partial(gql, http), ws.execute):
            for query in (one, many, one):
                before = await snapshot_reads(redis_url)
                data = await execute(query)
                costs.append(await snapshot_reads(redis_url) - before)
                assert len(data) == query.count("leaderboard")
    assert costs[0] > 0 and set(costs) == {costs[0]}


async def test_a_websocket_message_over_the_cap_closes_the_socket(app: Any) -> None:
    async with websockets.connect(app.ws_url, subprotocols=PROTOCOL, max_size=None) as ws:
        await ws.send(INIT)
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(json.dumps({"type": "ping", "payload": {"pad": "x" * 70_000}}))
        assert (await closed_by_server(ws, timeout=10))[0] == 1009



@pytest.mark.timeout(180)  # the clients' retries run out first, twice
@pytest.mark.parametrize("fast_path", [True, False])
async def test_while_redis_is_away_answers_are_unavailable_with_retry_after(
    live: Any, tmp_path: Path, fast_path: bool
) -> None:
    redis_server = EmbeddedRedis(tmp_path / "redis", port=free_port())
    with redis_server:
        async with (
            live(worker=False, redis_url=redis_server.url, http_fast_path=fast_path) as app,
            httpx.AsyncClient(base_url=app.base_url, timeout=30) as http,
        ):
            join = 'mutation { join(nickname: "swan") { token } }'
            assert (await gql(http, join))["join"]["token"]
            redis_server.stop()
            with pytest.raises(GraphQLErrors) as away:
                await gql(http, join.replace("swan", "goose"))
            error = away.value.errors[0]
            assert error["extensions"]["code"] == "UNAVAILABLE"
            assert error["extensions"]["retryAfter"] > 0
            assert "redis" not in error["message"].lower()  # no internals in the answer
            download = await http.get(
                "/admin/export/audit.csv", headers={"Authorization": "Bearer lko_whoever"}
            )
            assert download.status_code == 503 and int(download.headers["retry-after"]) > 0
            assert download.json()["error"]["code"] == "UNAVAILABLE"
            redis_server.start()
            assert (await gql(http, join.replace("swan", "goose")))["join"]["token"]

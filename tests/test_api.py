"""The whole contest through the public API: real uvicorn, real Redis, real tiny models."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import websockets

from server.state import keys
from server.state.connection import async_client
from tests.client import GraphQLErrors, closed_by_server, gql, ws_connect
from tests.documents import BOARD_FEED, JOIN, ME, SUBMIT, WATCH

pytestmark = pytest.mark.timeout(90)

RELAY_BOARD = (
    "subscription { leaderboard { submissions { id name score imageUrl } lastUpdatedAt } }"
)


@pytest.fixture
async def app(live: Any) -> AsyncIterator[Any]:
    async with live() as running:
        yield running


@pytest.fixture
async def http(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=app.base_url, timeout=30) as client:
        yield client


async def join(http: httpx.AsyncClient, nickname: str) -> str:
    data = await gql(http, JOIN, {"n": nickname})
    token: str = data["join"]["token"]
    return token


async def wait_done(app: Any, submission_id: str, token: str | None = None) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    async with ws_connect(app.ws_url, {"token": token} if token else None) as ws:
        async for data in ws.subscribe(WATCH, {"id": submission_id}):
            seen.append(data["submission"])
            if data["submission"]["status"] in ("DONE", "FAILED"):
                break
    return seen


async def test_prompt_to_score_to_live_board(app: Any, http: httpx.AsyncClient) -> None:
    token = await join(http, "Alice")
    async with ws_connect(app.ws_url) as ws:
        board = ws.subscribe(BOARD_FEED)
        first = await anext(board)
        assert first["leaderboard"]["submissions"] == []
        assert first["leaderboard"]["participantCount"] == 1

        submitted = (await gql(http, SUBMIT, {"p": "A yellow duck"}, token))["submitPrompt"]
        assert submitted["status"] == "QUEUED" and submitted["deduplicated"] is False
        states = await wait_done(app, submitted["id"], token)
        assert states[-1]["status"] == "DONE"
        score = states[-1]["score"]
        assert 0.0 <= score <= 1.0

        async with asyncio.timeout(20):
            while True:
                current = (await anext(board))["leaderboard"]
                if current["submissions"]:
                    break
        entry = current["submissions"][0]
        assert entry == {
            "id": submitted["id"],
            "name": "Alice",
            "score": score,
            "imageUrl": states[-1]["imageUrl"],
            "rank": 1,
        }
        assert current["submissionCount"] == 1

    image = await http.get(entry["imageUrl"])
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/webp"
    assert "immutable" in image.headers["cache-control"]
    assert image.content[:4] == b"RIFF" and image.content[8:12] == b"WEBP"

    me = (await gql(http, ME, token=token))["me"]
    assert (me["nickname"], me["bestScore"], me["rank"]) == ("Alice", score, 1)
    assert [s["id"] for s in me["submissions"]] == [submitted["id"]]


async def test_submission_status_moves_through_generating(
    app: Any, http: httpx.AsyncClient
) -> None:
    token = await join(http, "bob")
    submitted = (await gql(http, SUBMIT, {"p": "a swan at dusk"}, token))["submitPrompt"]
    states = [s["status"] for s in await wait_done(app, submitted["id"], token)]
    assert states[-1] == "DONE"
    assert set(states) <= {"QUEUED", "GENERATING", "DONE"}
    assert states == sorted(states, key=["QUEUED", "GENERATING", "DONE"].index)


async def test_everything_works_over_the_websocket(app: Any, http: httpx.AsyncClient) -> None:
    async with ws_connect(app.ws_url) as anonymous:
        data = await anonymous.execute(JOIN, {"n": "carol"})
    token = data["join"]["token"]
    async with ws_connect(app.ws_url, {"token": token}) as ws:
        submitted = (await ws.execute(SUBMIT, {"p": "a duck in a hat"}))["submitPrompt"]
        me = (await ws.execute(ME))["me"]
    assert me["nickname"] == "carol"
    assert me["submissions"][0]["id"] == submitted["id"]
    assert (await wait_done(app, submitted["id"]))[-1]["status"] == "DONE"


async def test_same_prompt_is_drawn_once_and_ranks_for_its_first_sender(
    app: Any, http: httpx.AsyncClient
) -> None:
    alice, bob = await join(http, "alice"), await join(http, "bob")
    first = (await gql(http, SUBMIT, {"p": "Two ducks"}, alice))["submitPrompt"]
    done = (await wait_done(app, first["id"]))[-1]
    again = (await gql(http, SUBMIT, {"p": "  two   DUCKS "}, bob))["submitPrompt"]
    assert again["status"] == "DONE" and again["deduplicated"] is True
    assert (again["score"], again["imageUrl"]) == (done["score"], done["imageUrl"])
    board = (await gql(http, "{ leaderboard { submissions { name rank } } }"))["leaderboard"]
    assert board["submissions"] == [{"name": "alice", "rank": 1}]  # bob's is a copy


async def test_the_earlier_events_relay_subscription_works_unchanged(app: Any) -> None:
    async with ws_connect(app.ws_url) as ws:
        data = await anext(ws.subscribe(RELAY_BOARD))
    assert set(data["leaderboard"]) == {"submissions", "lastUpdatedAt"}
    assert isinstance(data["leaderboard"]["lastUpdatedAt"], float)


async def test_the_event_is_public(http: httpx.AsyncClient) -> None:
    event = (await gql(http, "{ event { id title targetImageUrl status } }"))["event"]
    assert event["status"] == "OPEN"
    target = await http.get(event["targetImageUrl"])
    assert target.status_code == 200 and target.headers["content-type"] == "image/webp"
    assert (await gql(http, "{ me { id } }"))["me"] is None


@pytest.mark.parametrize(
    ("prompt", "reason"),
    [("", "empty"), ("   ", "empty"), ("x" * 301, "too_long"), ("a\x07duck", "control_characters")],
)
async def test_bad_prompts_are_invalid_input(
    http: httpx.AsyncClient, prompt: str, reason: str
) -> None:
    token = await join(http, f"p-{reason}-{len(prompt)}")
    with pytest.raises(GraphQLErrors) as caught:
        await gql(http, SUBMIT, {"p": prompt}, token)
    assert caught.value.code == "INVALID_INPUT"
    assert caught.value.errors[0]["extensions"].get("reason") == reason


async def test_error_codes(app: Any, http: httpx.AsyncClient) -> None:
    with pytest.raises(GraphQLErrors) as caught:
        await gql(http, SUBMIT, {"p": "a duck"})
    assert caught.value.code == "UNAUTHENTICATED"
    with pytest.raises(GraphQLErrors) as caught:
        await gql(http, SUBMIT, {"p": "a duck"}, token="forged")
    assert caught.value.code == "UNAUTHENTICATED"

    await join(http, "Dora")
    with pytest.raises(GraphQLErrors) as caught:
        await gql(http, JOIN, {"n": "DORA"})
    assert caught.value.code == "NICKNAME_TAKEN"
    for bad in ("", "x" * 25):
        with pytest.raises(GraphQLErrors) as caught:
            await gql(http, JOIN, {"n": bad})
        assert caught.value.code == "INVALID_INPUT"

    with pytest.raises(GraphQLErrors) as caught:
        await gql(http, '{ submission(id: "not-an-id") { id } }')
    assert caught.value.code == "INVALID_INPUT"


async def test_closed_event_rejects_joins_and_prompts(app: Any, http: httpx.AsyncClient) -> None:
    from server.state.connection import async_client
    from server.state.store import Store

    token = await join(http, "late")
    client = async_client(app.settings.redis_url)
    store = Store(client)
    event_id = await store.current_event_id()
    assert event_id is not None
    await store.set_event_status(event_id, "CLOSED")
    await client.aclose()
    for query, variables, auth in ((SUBMIT, {"p": "a duck"}, token), (JOIN, {"n": "later"}, None)):
        with pytest.raises(GraphQLErrors) as caught:
            await gql(http, query, variables, auth)
        assert caught.value.code == "EVENT_CLOSED"


async def test_malformed_http_requests_get_errors_not_crashes(http: httpx.AsyncClient) -> None:
    syntax = await http.post("/graphql", json={"query": "{ event { id "})
    assert syntax.status_code < 500
    assert syntax.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
    unknown = await http.post("/graphql", json={"query": "{ nope }"})
    assert unknown.status_code < 500
    assert unknown.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    wrong_type = await http.post(
        "/graphql", json={"query": '{ leaderboard(first: "ten") { lastUpdatedAt } }'}
    )
    assert wrong_type.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    for body in (b"{not json", b"[]", b'{"query": 5}', b""):
        response = await http.post(
            "/graphql", content=body, headers={"content-type": "application/json"}
        )
        assert 400 <= response.status_code < 500, body
    too_many = await http.post(
        "/graphql", json={"query": "{ leaderboard(first: 1000) { lastUpdatedAt } }"}
    )
    assert too_many.json()["errors"][0]["extensions"]["code"] == "INVALID_INPUT"


async def test_malformed_websocket_messages_close_with_protocol_codes(app: Any) -> None:
    protocol = [websockets.Subprotocol("graphql-transport-ws")]

    async def close_code(messages: list[str]) -> int | None:
        async with websockets.connect(app.ws_url, subprotocols=protocol) as ws:
            for message in messages:
                await ws.send(message)
            return (await closed_by_server(ws, timeout=10))[0]

    init = json.dumps({"type": "connection_init"})
    assert await close_code(["not json"]) == 4400
    assert await close_code([json.dumps({"type": "nonsense"})]) == 4400
    assert await close_code([init, init]) == 4429
    subscribe = json.dumps(
        {"id": "1", "type": "subscribe", "payload": {"query": "{ event { id } }"}}
    )
    assert await close_code([subscribe]) == 4401
    assert (
        await close_code([json.dumps({"type": "connection_init", "payload": {"token": 5}})]) == 4403
    )

    # A bad query over a healthy socket is an error message, and the socket stays up.
    async with ws_connect(app.ws_url) as ws:
        with pytest.raises(GraphQLErrors):
            await ws.execute("{ nope }")
        assert (await ws.execute("{ event { status } }"))["event"]["status"] == "OPEN"


async def test_only_graphql_transport_ws_is_spoken(app: Any) -> None:
    with pytest.raises(websockets.ConnectionClosed) as caught:
        async with websockets.connect(
            app.ws_url, subprotocols=[websockets.Subprotocol("graphql-ws")]
        ) as ws:
            await ws.recv()
    assert caught.value.rcvd is not None and caught.value.rcvd.code == 4406


async def test_healthz_reports_redis_and_worker(http: httpx.AsyncClient) -> None:
    response = await http.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["redis"] is True and body["workers"] >= 1


async def test_an_open_board_follows_a_switch_of_the_current_event(app: Any) -> None:
    from server.state.connection import async_client
    from server.state.store import Store

    client = async_client(app.settings.redis_url)
    store = Store(client)
    first_event = await store.current_event_id()
    async with ws_connect(app.ws_url) as ws:
        board = ws.subscribe("subscription { leaderboard { eventId participantCount } }")
        assert (await anext(board))["leaderboard"]["eventId"] == first_event
        second_event = await store.create_event("day 2", "0" * 32, current=False)
        await store.set_current_event(second_event)
        async with asyncio.timeout(10):
            switched = (await anext(board))["leaderboard"]
        assert switched == {"eventId": second_event, "participantCount": 0}
    await client.aclose()


async def test_a_submission_answers_its_place_and_wait_as_queries_do(live: Any) -> None:
    place = "query($id: ID!) { submission(id: $id) { status queuePosition etaSeconds } }"
    submit = """mutation($p: String!) { submitPrompt(prompt: $p) {
      id status queuePosition etaSeconds } }"""
    async with (
        live(worker=False) as app,
        httpx.AsyncClient(base_url=app.base_url, timeout=30) as http,
    ):
        client = async_client(app.settings.redis_url)
        try:
            await client.hset(keys.QUEUE, "job_seconds", "2.0")  # as measured by workers
            await client.zadd(keys.WORKERS, {"w1": time.time(), "w2": time.time()})
            answers = [
                (await gql(http, submit, {"p": f"duck {i}"}, await join(http, f"p{i}")))[
                    "submitPrompt"
                ]
                for i in range(3)
            ]
        finally:
            await client.aclose()
        # Two workers at 2 s a job: one more second per place, plus the job itself.
        assert [(a["queuePosition"], a["etaSeconds"]) for a in answers] == [
            (1, 3.0),
            (2, 4.0),
            (3, 5.0),
        ]
        for answer in answers:
            queried = (await gql(http, place, {"id": answer["id"]}))["submission"]
            assert queried == {k: answer[k] for k in ("status", "queuePosition", "etaSeconds")}

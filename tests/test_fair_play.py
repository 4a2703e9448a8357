"""The fair-play rules, tried as a cheating player would, against the real app and Redis.

Each attack of the outside review is one test here: reading the leader's prompt, copies
ranking for free accounts, a hidden picture coming back when its prompt is resent, and
accounts costing nothing. (Unbounded bodies: tests/test_limits_http.py.)
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from server.abuse.captcha.altcha import solve_altcha
from server.state import keys
from server.state.connection import async_client
from tests.client import GraphQLErrors, gql, ws_connect
from tests.documents import (
    AUDIT,
    BOARD,
    BOARD_PROMPTS,
    CLOSE,
    FEED,
    HIDE,
    REVEAL,
    STAFF,
    STANDING,
    SUBMISSION,
    SUBMIT,
    UNHIDE,
    WATCH,
)
from tests.organiser_api import board, join, login, play, running

pytestmark = pytest.mark.timeout(90)


async def test_the_leaders_prompt_is_private_on_every_public_surface(live: Any) -> None:
    async with running(live) as (app, http):
        token = await login(http)
        _, alice = await join(http, "alice")
        _, bob = await join(http, "bob")
        leader = await play(app, http, alice, "a secret recipe for the perfect duck")

        # The board hands out the id; the prompt stays with its author.
        (entry,) = (await gql(http, BOARD_PROMPTS))["leaderboard"]["submissions"]
        assert (entry["id"], entry["prompt"]) == (leader["id"], None)
        for who in (None, bob):
            seen = (await gql(http, SUBMISSION, {"id": leader["id"]}, who))["submission"]
            assert seen["prompt"] is None and seen["score"] == leader["score"]
        mine = (await gql(http, SUBMISSION, {"id": leader["id"]}, alice))["submission"]
        assert mine["prompt"] == "a secret recipe for the perfect duck"
        for payload in ({}, {"token": bob}):
            async with ws_connect(app.ws_url, payload) as ws:
                watched = await ws.execute(WATCH, {"id": leader["id"]})
                assert watched["submission"]["prompt"] is None

        # Only organisers reveal, and the reveal is audited and reaches the board.
        with pytest.raises(GraphQLErrors) as refused:
            await gql(http, REVEAL, {"top": 3}, bob)
        assert refused.value.code in ("UNAUTHENTICATED", "FORBIDDEN")
        assert (await gql(http, BOARD_PROMPTS))["event"]["promptsRevealed"] is False
        await gql(http, REVEAL, {"top": 3}, token)
        revealed = await gql(http, BOARD_PROMPTS)
        assert revealed["event"]["promptsRevealed"] is True
        assert [e["prompt"] for e in revealed["leaderboard"]["submissions"]] == [
            "a secret recipe for the perfect duck"
        ]
        audit = (await gql(http, AUDIT, {}, token))["auditLog"]
        assert any(a["action"] == "prompts.reveal" for a in audit)


async def test_only_the_revealed_top_show_their_prompts(live: Any) -> None:
    async with running(live) as (app, http):
        token = await login(http)
        players = [(await join(http, name))[1] for name in ("a", "b", "c")]
        for player, prompt in zip(players, ("one duck", "two ducks", "three ducks"), strict=True):
            await play(app, http, player, prompt)
        await gql(http, REVEAL, {"top": 2}, token)
        entries = (await gql(http, BOARD_PROMPTS))["leaderboard"]["submissions"]
        assert [e["prompt"] is not None for e in entries] == [True, True, False]
        await gql(http, REVEAL, {"top": 0}, token)  # taken back
        entries = (await gql(http, BOARD_PROMPTS))["leaderboard"]["submissions"]
        assert [e["prompt"] for e in entries] == [None, None, None]


async def test_prompts_are_revealed_when_the_event_closes_if_set(live: Any) -> None:
    async with running(live, reveal_prompts_on_close=5) as (app, http):
        token = await login(http)
        _, alice = await join(http, "alice")
        await play(app, http, alice, "a duck at dusk")
        assert (await gql(http, BOARD_PROMPTS))["leaderboard"]["submissions"][0]["prompt"] is None
        event_id = (await gql(http, "{ event { id } }"))["event"]["id"]
        await gql(http, CLOSE, {"id": event_id}, token)
        data = await gql(http, BOARD_PROMPTS)
        assert data["event"]["promptsRevealed"] is True
        assert data["leaderboard"]["submissions"][0]["prompt"] == "a duck at dusk"


async def test_copies_of_the_leaders_prompt_do_not_rank(live: Any) -> None:
    async with running(live) as (app, http):
        _, alice = await join(http, "alice")
        leader = await play(app, http, alice, "a duck wearing a crown")
        for i in range(5):
            _, copier = await join(http, f"copier{i}")
            copy = (await gql(http, SUBMIT, {"p": "A duck, wearing a crown!"}, copier))[
                "submitPrompt"
            ]
            # Seen at once, labelled, with the same picture and score; it does not rank.
            assert (copy["status"], copy["deduplicated"], copy["copied"]) == ("DONE", True, True)
            assert copy["score"] == leader["score"] and copy["imageUrl"]
            unranked = {"bestScore": None, "rank": None}
            assert (await gql(http, STANDING, {}, copier))["me"] == unranked
        # Resending your own prompt changes nothing (and is not a copy).
        again = (await gql(http, SUBMIT, {"p": "a duck wearing a crown"}, alice))[
            "submitPrompt"
        ]
        assert (again["deduplicated"], again["copied"]) == (True, False)
        entries = (await board(http))["submissions"]
        assert [(e["name"], e["rank"]) for e in entries] == [("alice", 1)]
        assert (await gql(http, STANDING, {}, alice))["me"]["rank"] == 1


async def test_a_hidden_picture_stays_hidden_however_often_its_prompt_is_sent(
    live: Any,
) -> None:
    async with running(live) as (app, http):
        token = await login(http)
        _, alice = await join(http, "alice")
        _, bob = await join(http, "bob")
        drawing = await play(app, http, alice, "a rude duck")
        picture = drawing["imageUrl"]
        assert (await http.get(picture)).status_code == 200
        await gql(http, HIDE, {"id": drawing["id"]}, token)

        resent = (await gql(http, SUBMIT, {"p": "a rude duck"}, alice))["submitPrompt"]
        copied = (await gql(http, SUBMIT, {"p": "a  RUDE duck"}, bob))["submitPrompt"]
        for answer in (resent, copied):
            assert (answer["status"], answer["hidden"], answer["imageUrl"]) == ("DONE", True, None)
        public = (await gql(http, BOARD, {"first": 10}))["leaderboard"]
        assert public["submissions"] == [] and public["latest"] == []
        assert (await http.get(picture)).status_code == 404

        # The moderation feed shows the copy under the drawing it copied.
        (item,) = (await gql(http, FEED, {}, token))["latestSubmissions"]
        assert [(c["nickname"], c["copied"]) for c in item["copies"]] == [("bob", True)]

        # Unhidden: the author ranks again (once), the copier still does not.
        await gql(http, UNHIDE, {"id": copied["id"]}, token)  # any member of the picture
        entries = (await board(http))["submissions"]
        assert [e["name"] for e in entries] == ["alice"]
        assert (await http.get(picture)).status_code == 200


async def test_staff_never_appear_on_the_latest_drawings_strip(live: Any) -> None:
    async with running(live) as (app, http):
        token = await login(http)
        staff_id, staff = await join(http, "staffer")
        _, alice = await join(http, "alice")
        await gql(http, STAFF, {"id": staff_id}, token)
        await play(app, http, staff, "a staff duck")
        await play(app, http, alice, "a player duck")
        public = (await gql(http, BOARD, {"first": 10}))["leaderboard"]
        assert [e["name"] for e in public["latest"]] == ["alice"]
        assert [e["name"] for e in public["submissions"]] == ["alice"]


async def test_joining_is_limited_per_address(live: Any) -> None:
    async with running(live, worker=False, join_burst=3, join_rate_per_s=0.01) as (_, http):
        for i in range(3):
            await join(http, f"phone{i}")
        with pytest.raises(GraphQLErrors) as refused:
            await join(http, "script")
        assert refused.value.code == "RATE_LIMITED"
        assert refused.value.errors[0]["extensions"]["retryAfter"] > 0


async def test_organisers_can_require_the_captcha_on_join(live: Any) -> None:
    async with running(live, worker=False, captcha_provider="altcha") as (_, http):
        token = await login(http)
        event_id = (await gql(http, "{ event { id } }"))["event"]["id"]
        switch = "mutation($id: ID!) { updateEvent(id: $id, joinCaptcha: true) { joinCaptcha } }"
        assert (await gql(http, switch, {"id": event_id}, token))["updateEvent"]["joinCaptcha"]
        with pytest.raises(GraphQLErrors) as refused:
            await join(http, "bot")
        assert refused.value.code == "CAPTCHA_REQUIRED"
        challenge = (await http.get("/api/captcha/challenge")).json()
        solved = await asyncio.to_thread(solve_altcha, challenge)
        joined = await gql(
            http,
            "mutation($n: String!, $c: String) { join(nickname: $n, captcha: $c) { token } }",
            {"n": "human", "c": solved},
        )
        assert joined["join"]["token"]


async def test_the_seed_mixes_a_secret_of_each_event(live: Any) -> None:
    async with running(live, worker=False) as (app, http):
        token = await login(http)
        _, alice = await join(http, "alice")
        first = (await gql(http, SUBMIT, {"p": "a duck"}, alice))["submitPrompt"]
        create = 'mutation { createEvent(title: "Day 2", makeCurrent: true) { id } }'
        await gql(http, create, {}, token)
        _, bob = await join(http, "bob")
        second = (await gql(http, SUBMIT, {"p": "a duck"}, bob))["submitPrompt"]
        client = async_client(app.settings.redis_url)
        try:
            seeds = [await client.hget(keys.submission(s["id"]), "seed") for s in (first, second)]
            events = [
                await client.hgetall(keys.event(e))
                for e in await client.zrange(keys.EVENTS, 0, -1)
            ]
        finally:
            await client.aclose()
        assert seeds[0] != seeds[1] and all(int(s) > 0 for s in seeds)
        assert len({e["seed_secret"] for e in events}) == 2
        # The secret is nowhere in the public event.
        public = await http.post("/graphql", json={"query": "{ event { id title } }"})
        assert all(e["seed_secret"] not in public.text for e in events)


async def test_idle_sessions_expire_and_each_use_restarts_the_clock(live: Any) -> None:
    async with running(live, worker=False, session_idle_s=600) as (app, http):
        _, alice = await join(http, "alice")
        client = async_client(app.settings.redis_url)
        try:
            (session,) = [k async for k in client.scan_iter(keys.session("*"))]
            assert 0 < await client.ttl(session) <= 600
            await client.expire(session, 5)
            await gql(http, STANDING, {}, alice)
            assert await client.ttl(session) > 5
        finally:
            await client.aclose()


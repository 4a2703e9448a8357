"""Moderation through the API: hide and unhide, ban, staff, hold-for-review; each reaching
open boards at once, and each racing safely with results being recorded."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from server.state import keys
from server.state.connection import async_client
from tests.client import GraphQLErrors, gql, ws_connect
from tests.documents import (
    APPROVE,
    BAN,
    HIDE,
    PUBLIC_SCORES,
    STAFF,
    STANDING,
    STATUS,
    SUBMIT,
    UNBAN,
    UNHIDE,
)
from tests.organiser_api import board, join, live_board, login, play, running, wait_done

pytestmark = pytest.mark.timeout(90)


def names(leaderboard: dict[str, Any]) -> list[str]:
    return [entry["name"] for entry in leaderboard["submissions"]]


async def next_board_where(
    updates: AsyncIterator[dict[str, Any]], wanted: Any, within: float = 1.0
) -> dict[str, Any]:
    """The first pushed board (within ``within`` seconds) for which ``wanted`` holds."""
    async with asyncio.timeout(within):
        async for data in updates:
            if wanted(data["leaderboard"]):
                result: dict[str, Any] = data["leaderboard"]
                return result
    raise AssertionError("the subscription ended")


async def test_hiding_recomputes_the_best_and_reaches_open_boards_at_once(live: Any) -> None:
    async with running(live) as (app, http):
        token = await login(http)
        _, alice = await join(http, "alice")
        _, bob = await join(http, "bob")
        drawings = [await play(app, http, alice, p) for p in ("a duck", "a swan", "a pond")]
        bob_best = await play(app, http, bob, "a goose")
        ordered = sorted(drawings, key=lambda d: -d["score"])
        top, second = ordered[0], ordered[1]

        async with ws_connect(app.ws_url) as ws:
            updates = ws.subscribe(PUBLIC_SCORES)
            first = (await anext(updates))["leaderboard"]["submissions"]
            assert top["id"] in [e["id"] for e in first]

            hidden = (await gql(http, HIDE, {"id": top["id"]}, token))["hideSubmission"]
            assert hidden == {"id": top["id"], "hidden": True}
            pushed = await next_board_where(
                updates, lambda b: top["id"] not in [e["id"] for e in b["submissions"]]
            )
            alice_entry = next(e for e in pushed["submissions"] if e["name"] == "alice")
            assert alice_entry == {"id": second["id"], "name": "alice", "score": second["score"]}

            for drawing in drawings:
                await gql(http, HIDE, {"id": drawing["id"]}, token)
            pushed = await next_board_where(updates, lambda b: names(b) == ["bob"])
            assert pushed["submissions"][0]["score"] == bob_best["score"]
            assert (await gql(http, STANDING, token=alice))["me"] == {
                "bestScore": None,
                "rank": None,
            }

            await gql(http, UNHIDE, {"id": top["id"]}, token)
            pushed = await next_board_where(updates, lambda b: "alice" in names(b))
        assert next(e for e in pushed["submissions"] if e["name"] == "alice")["id"] == top["id"]
        latest = (await board(http))["latest"]
        assert {d["id"] for d in latest} & {d["id"] for d in drawings} == {top["id"]}

        entries = (await gql(http, "{ auditLog(first: 1) { action target before after } }",
                             token=token))["auditLog"]
        assert entries == [{
            "action": "submission.unhide",
            "target": top["id"],
            "before": {"hidden": True},
            "after": {"hidden": False},
        }]


async def test_a_drawing_hidden_before_its_result_never_reaches_the_board(live: Any) -> None:
    async with running(live) as (app, http):
        token = await login(http)
        _, alice = await join(http, "alice")
        submitted = (await gql(http, SUBMIT, {"p": "a duck in a hat"}, alice))["submitPrompt"]
        await gql(http, HIDE, {"id": submitted["id"]}, token)  # races the worker's result
        assert (await wait_done(app, submitted["id"]))["status"] == "DONE"
        assert (await board(http))["submissions"] == []
        assert (await live_board(http, token))["submissions"] == []


async def test_ban_cancels_the_waiting_job_and_refuses_further_prompts(live: Any) -> None:
    async with running(live, worker=False) as (app, http):
        token = await login(http)
        alice_id, alice = await join(http, "alice")
        bob_id, bob = await join(http, "bob")
        carol_id, carol = await join(http, "carol")
        mine = (await gql(http, SUBMIT, {"p": "a lonely duck"}, alice))["submitPrompt"]
        shared = (await gql(http, SUBMIT, {"p": "two swans"}, bob))["submitPrompt"]
        follower = (await gql(http, SUBMIT, {"p": "two swans"}, carol))["submitPrompt"]
        client = async_client(app.settings.redis_url)
        try:
            assert await client.xlen(keys.JOBS) == 2

            banned = (await gql(http, BAN, {"id": alice_id}, token))["banParticipant"]
            assert banned == {"banned": True}
            cancelled = (await gql(http, STATUS, {"id": mine["id"]}))["submission"]
            assert cancelled == {"status": "FAILED", "error": "cancelled by an organiser"}
            assert await client.xlen(keys.JOBS) == 1  # the job left the queue

            # Bob's job is carol's drawing too: it stays; carol's own wait is cancelled.
            await gql(http, BAN, {"id": bob_id}, token)
            await gql(http, BAN, {"id": carol_id}, token)
            assert (await gql(http, STATUS, {"id": shared["id"]}))["submission"]["status"] == (
                "QUEUED"
            )
            assert (await gql(http, STATUS, {"id": follower["id"]}))["submission"][
                "status"
            ] == "FAILED"
            assert await client.xlen(keys.JOBS) == 1
        finally:
            await client.aclose()

        for who in (alice, carol):
            with pytest.raises(GraphQLErrors) as caught:
                await gql(http, SUBMIT, {"p": "let me back in"}, who)
            assert caught.value.code == "BANNED"
        await gql(http, UNBAN, {"id": alice_id}, token)
        again = (await gql(http, SUBMIT, {"p": "sorry"}, alice))["submitPrompt"]
        assert again["status"] == "QUEUED"


async def test_a_ban_refuses_the_next_prompt_on_an_open_websocket(live: Any) -> None:
    # A WebSocket keeps one context for its whole life: the caller is read afresh anyway.
    async with running(live, worker=False) as (app, http):
        token = await login(http)
        alice_id, alice = await join(http, "alice")
        async with ws_connect(app.ws_url, {"token": alice}) as ws:
            first = (await ws.execute(SUBMIT, {"p": "a duck"}))["submitPrompt"]
            assert first["status"] == "QUEUED"
            await gql(http, BAN, {"id": alice_id}, token)
            with pytest.raises(GraphQLErrors) as caught:
                await ws.execute(SUBMIT, {"p": "another duck"})
            assert caught.value.code == "BANNED"
            await gql(http, UNBAN, {"id": alice_id}, token)
            again = (await ws.execute(SUBMIT, {"p": "a sorry duck"}))["submitPrompt"]
            assert again["status"] == "QUEUED"


async def test_a_ban_takes_the_participant_off_every_board(live: Any) -> None:
    async with running(live) as (app, http):
        token = await login(http)
        alice_id, alice = await join(http, "alice")
        _, bob = await join(http, "bob")
        await play(app, http, alice, "a duck")
        await play(app, http, bob, "a swan")
        async with ws_connect(app.ws_url) as ws:
            updates = ws.subscribe(PUBLIC_SCORES)
            assert sorted(names((await anext(updates))["leaderboard"])) == ["alice", "bob"]
            await gql(http, BAN, {"id": alice_id}, token)
            await next_board_where(updates, lambda b: names(b) == ["bob"])
        assert names(await live_board(http, token)) == ["bob"]
        await gql(http, UNBAN, {"id": alice_id}, token)
        assert sorted(names(await board(http))) == ["alice", "bob"]


async def test_staff_play_normally_but_are_never_ranked(live: Any) -> None:
    async with running(live) as (app, http):
        token = await login(http)
        staff_id, staff = await join(http, "booth-staff")
        _, guest = await join(http, "guest")
        marked = (await gql(http, STAFF, {"id": staff_id, "s": True}, token))["setStaff"]
        assert marked == {"staff": True, "rank": None}
        drawn = await play(app, http, staff, "our own mascot")
        assert drawn["status"] == "DONE" and drawn["score"] is not None
        await play(app, http, guest, "a duck")
        assert names(await board(http)) == ["guest"]
        assert names(await live_board(http, token)) == ["guest"]
        assert (await gql(http, STANDING, token=staff))["me"]["rank"] is None

        await gql(http, STAFF, {"id": staff_id, "s": False}, token)
        assert sorted(names(await board(http))) == ["booth-staff", "guest"]


async def test_held_drawings_reach_the_board_only_once_approved(live: Any) -> None:
    async with running(live) as (app, http):
        token = await login(http)
        event = (await gql(http, "{ event { id } }"))["event"]
        await gql(
            http,
            "mutation($id: ID!) { updateEvent(id: $id, holdForReview: true) { holdForReview } }",
            {"id": event["id"]},
            token,
        )
        _, alice = await join(http, "alice")
        drawn = await play(app, http, alice, "a duck in the rain")
        assert drawn["status"] == "DONE"
        public = await board(http)
        assert public["submissions"] == [] and public["latest"] == []
        queue = (await gql(http, "{ reviewQueue { id review prompt } }", token=token))
        assert queue["reviewQueue"] == [
            {"id": drawn["id"], "review": "PENDING", "prompt": "a duck in the rain"}
        ]

        approved = (await gql(http, APPROVE, {"id": drawn["id"]}, token))["approveSubmission"]
        assert approved == {"review": "APPROVED"}
        public = await board(http)
        assert [e["id"] for e in public["submissions"]] == [drawn["id"]]
        assert [d["id"] for d in public["latest"]] == [drawn["id"]]
        assert (await gql(http, "{ reviewQueue { id } }", token=token))["reviewQueue"] == []


# --------------------------------------------------- the store's atomic rules, directly
@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[Any]:
    from server.state.store import Store

    client = async_client(redis_url)
    yield Store(client)
    await client.aclose()


async def _submit(store: Any, event: Any, participant: Any, prompt: str) -> Any:
    from server.abuse import dedup

    return await store.submit(
        participant=participant, prompt=dedup.prepare(prompt, 300),
    )


async def _player(store: Any, event: Any, nickname: str) -> Any:
    from server.abuse import dedup

    joined = await store.join(event.id, nickname, dedup.nickname_key(nickname))
    return joined[0]


async def test_hide_and_a_result_commit_in_either_order_keep_it_off_the_board(
    store: Any,
) -> None:
    event = await store.event(await store.create_event("t", "0" * 32))
    alice = await _player(store, event, "alice")
    early = await _submit(store, event, alice, "one")
    await store.set_submission_flag(early.id, "hidden", "1")  # hidden while queued
    await store.complete(early.id, score=0.9, image_key="a" * 32, model_version="v")
    assert await store.leaderboard(event.id, 10) == []
    late = await _submit(store, event, alice, "two")
    await store.complete(late.id, score=0.4, image_key="b" * 32, model_version="v")
    await store.set_submission_flag(late.id, "hidden", "1")  # hidden once scored
    assert await store.leaderboard(event.id, 10) == []
    await store.set_submission_flag(early.id, "hidden", "")
    assert [(e.submission_id, e.score) for e in await store.leaderboard(event.id, 10)] == [
        (early.id, 0.9)
    ]


async def test_recomputed_best_keeps_the_earlier_of_equal_scores(store: Any) -> None:
    event = await store.event(await store.create_event("t", "0" * 32))
    alice = await _player(store, event, "alice")
    ids = []
    for prompt, score in (("one", 0.5), ("two", 0.5), ("three", 0.7)):
        record = await _submit(store, event, alice, prompt)
        await store.complete(record.id, score=score, image_key="c" * 32, model_version="v")
        ids.append(record.id)
    assert (await store.leaderboard(event.id, 1))[0].submission_id == ids[2]
    await store.set_submission_flag(ids[2], "hidden", "1")
    assert (await store.leaderboard(event.id, 1))[0].submission_id == ids[0]
    assert await store.standing(event.id, alice.id) == (0.5, 1)


async def test_a_frozen_board_recomputes_with_the_freeze_time_as_cutoff(store: Any) -> None:
    import time

    event = await store.event(await store.create_event("t", "0" * 32))
    alice = await _player(store, event, "alice")
    first = await _submit(store, event, alice, "one")
    await store.complete(first.id, score=0.3, image_key="d" * 32, model_version="v")
    second = await _submit(store, event, alice, "two")
    await store.complete(second.id, score=0.6, image_key="e" * 32, model_version="v")
    await store.freeze(event.id, time.time())
    third = await _submit(store, event, alice, "three")
    await store.complete(third.id, score=0.9, image_key="f" * 32, model_version="v")
    assert [e.score for e in await store.leaderboard(event.id, 5)] == [0.6]
    assert [e.score for e in await store.leaderboard(event.id, 5, live=True)] == [0.9]
    await store.set_submission_flag(second.id, "hidden", "1")
    assert [e.score for e in await store.leaderboard(event.id, 5)] == [0.3]  # not 0.9
    assert [e.score for e in await store.leaderboard(event.id, 5, live=True)] == [0.9]
    assert (await store.counts(event.id)).frozen
    await store.unfreeze(event.id)
    assert [e.score for e in await store.leaderboard(event.id, 5)] == [0.9]

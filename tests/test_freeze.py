"""Freezing the public leaderboard: nothing after the freeze time leaks through any query
or subscription; organisers still see live standings; unfreezing reveals them."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from tests.client import gql, ws_connect
from tests.documents import BOARD_OF, EVENT, FREEZE, HIDE, LIVE_FEED, ME, PUBLIC_BOARD, UNFREEZE
from tests.organiser_api import board, join, live_board, login, play, running

pytestmark = pytest.mark.timeout(90)


def ids(leaderboard: dict[str, Any]) -> set[str]:
    return {e["id"] for e in leaderboard["submissions"]} | {d["id"] for d in leaderboard["latest"]}


async def test_frozen_standings_do_not_leak_and_unfreezing_reveals(live: Any) -> None:
    async with running(live) as (app, http):
        token = await login(http)
        event = (await gql(http, "{ event { id } }"))["event"]
        _, alice = await join(http, "alice")
        _, bob = await join(http, "bob")
        early = await play(app, http, alice, "a duck")
        frozen = (await gql(http, FREEZE, {"at": None}, token))["freezeLeaderboard"]
        assert frozen["frozen"] is True and frozen["frozenAt"] <= time.time()
        before = await board(http)
        assert before["frozen"] is True and ids(before) == {early["id"]}

        async with ws_connect(app.ws_url) as public, ws_connect(
            app.ws_url, {"organiserToken": token}
        ) as organiser:
            pushed = public.subscribe(PUBLIC_BOARD)
            live_pushed = organiser.subscribe(LIVE_FEED)
            assert ids((await anext(pushed))["leaderboard"]) == {early["id"]}
            await anext(live_pushed)

            late = [await play(app, http, bob, "a swan"), await play(app, http, alice, "a pond")]
            leaked = {d["id"] for d in late}
            # The organisers' board shows bob live, pushed like any change.
            async with asyncio.timeout(5):
                async for data in live_pushed:
                    if "bob" in [e["name"] for e in data["organiserLeaderboard"]["submissions"]]:
                        break
            # Every query a player or the big screen can make shows the frozen standings.
            now = await board(http)
            assert now["frozen"] is True and ids(now) == {early["id"]}
            by_id = (await gql(http, BOARD_OF, {"e": event["id"]}))["leaderboard"]
            assert [e["name"] for e in by_id["submissions"]] == ["alice"]
            assert (await gql(http, ME, token=bob))["me"]["rank"] is None
            alice_me = (await gql(http, ME, token=alice))["me"]
            assert (alice_me["bestScore"], alice_me["rank"]) == (early["score"], 1)
            assert (await gql(http, EVENT))["event"]["frozen"] is True
            async with ws_connect(app.ws_url) as fresh:
                first = (await anext(fresh.subscribe(PUBLIC_BOARD)))["leaderboard"]
            assert first["frozen"] is True and ids(first) == {early["id"]}

            # The reveal, pushed to the open board at once; nothing frozen leaked before it.
            revealed = (await gql(http, UNFREEZE, token=token))["unfreezeLeaderboard"]
            assert revealed == {"frozen": False, "frozenAt": None}
            async with asyncio.timeout(1):
                async for data in pushed:
                    shown = data["leaderboard"]
                    if not shown["frozen"]:
                        break
                    assert not ids(shown) & leaked, "a post-freeze result leaked"
        assert "bob" in [e["name"] for e in shown["submissions"]]
        assert ids(await board(http)) & leaked


async def test_freezing_at_an_earlier_time_shows_the_standings_of_that_time(live: Any) -> None:
    async with running(live) as (app, http):
        token = await login(http)
        _, alice = await join(http, "alice")
        _, bob = await join(http, "bob")
        early = await play(app, http, alice, "a duck")
        cutoff = time.time()
        late = await play(app, http, bob, "a swan")
        assert late["status"] == "DONE"
        await gql(http, FREEZE, {"at": cutoff}, token)
        public = await board(http)
        assert public["frozen"] is True and ids(public) == {early["id"]}
        assert len((await live_board(http, token))["submissions"]) == 2

        # A later freeze time: live until then.
        upcoming = (await gql(http, FREEZE, {"at": time.time() + 3600}, token))
        assert upcoming["freezeLeaderboard"]["frozen"] is False
        assert len((await board(http))["submissions"]) == 2


async def test_hiding_during_a_freeze_reaches_the_frozen_board(live: Any) -> None:
    async with running(live) as (app, http):
        token = await login(http)
        _, alice = await join(http, "alice")
        _, bob = await join(http, "bob")
        rude = await play(app, http, alice, "a rude duck")
        polite = await play(app, http, bob, "a polite swan")
        await gql(http, FREEZE, {"at": None}, token)
        async with ws_connect(app.ws_url) as ws:
            pushed = ws.subscribe(PUBLIC_BOARD)
            assert ids((await anext(pushed))["leaderboard"]) == {rude["id"], polite["id"]}
            await gql(http, HIDE, {"id": rude["id"]}, token)
            async with asyncio.timeout(1):
                async for data in pushed:
                    if ids(data["leaderboard"]) == {polite["id"]}:
                        break
        assert (await board(http))["frozen"] is True

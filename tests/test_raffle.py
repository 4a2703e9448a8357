"""Raffles: candidates and seed fixed and shown before the draw, winners anyone can
recompute from them, redraws past absent winners, every step in the audit log."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from server.organiser.raffle import pick_winners
from tests.client import GraphQLErrors, gql
from tests.documents import DRAW_RAFFLE, PREPARE_RAFFLE, REDRAW_RAFFLE, STAFF
from tests.organiser_api import join, login, play, running

pytestmark = pytest.mark.timeout(90)


def recompute(seed: str, candidates: list[str], count: int, absent: list[str]) -> list[str]:
    """The published rule, written out independently of server.organiser.raffle."""
    def key(ident: str) -> str:
        return hashlib.sha256(f"{seed}:{ident}".encode()).hexdigest()

    return [i for i in sorted(candidates, key=key) if i not in absent][:count]


def test_the_draw_depends_only_on_seed_candidates_and_absentees() -> None:
    ids = [f"p{i}" for i in range(20)]
    assert pick_winners("s", ids, 3) == recompute("s", ids, 3, [])
    assert pick_winners("s", reversed(ids), 3) == pick_winners("s", ids, 3)
    assert pick_winners("s", ids, 3) != pick_winners("t", ids, 3)
    first = pick_winners("s", ids, 3)
    assert pick_winners("s", ids, 3, absent=[first[0]]) == [*first[1:], recompute(
        "s", ids, 4, []
    )[3]]


@pytest.fixture
async def ranked(live: Any) -> Any:
    """Six players on the board, and a staff member who is not."""
    async with running(live) as (app, http):
        token = await login(http)
        ids = {}
        for name in ("ann", "ben", "cat", "dan", "eve", "fay", "staff"):
            ident, session = await join(http, name)
            await play(app, http, session, f"a duck drawn by {name}")
            ids[name] = ident
        await gql(http, STAFF,
                  {"id": ids["staff"]}, token)
        yield app, http, token, ids


async def test_raffle_is_reproducible_from_its_shown_seed(ranked: Any) -> None:
    _, http, token, ids = ranked
    board = (await gql(http, "{ organiserLeaderboard(first: 20) { submissions { name } } }",
                       token=token))["organiserLeaderboard"]["submissions"]
    top4 = [e["name"] for e in board[:4]]

    chosen = {"n": 2, "top": 4, "seed": "audience-1729"}
    prepared = (await gql(http, PREPARE_RAFFLE, chosen, token))["prepareRaffle"]
    assert (prepared["status"], prepared["seed"], prepared["winners"]) == (
        "PREPARED", "audience-1729", []
    )
    candidates = [c["participantId"] for c in prepared["candidates"]]
    assert [c["nickname"] for c in prepared["candidates"]] == top4
    assert ids["staff"] not in candidates
    assert all(
        c["ticket"] == hashlib.sha256(f"audience-1729:{c['participantId']}".encode()).hexdigest()
        for c in prepared["candidates"]
    )

    drawn = (await gql(http, DRAW_RAFFLE, {"id": prepared["id"]}, token))["drawRaffle"]
    winners = [w["participantId"] for w in drawn["winners"]]
    assert winners == recompute("audience-1729", candidates, 2, [])
    again = (await gql(http, DRAW_RAFFLE, {"id": prepared["id"]}, token))["drawRaffle"]
    assert [w["participantId"] for w in again["winners"]] == winners

    rerun = (await gql(http, PREPARE_RAFFLE, {"n": 2, "top": 4, "seed": "audience-1729"}, token))[
        "prepareRaffle"
    ]
    rerun_drawn = (await gql(http, DRAW_RAFFLE, {"id": rerun["id"]}, token))["drawRaffle"]
    assert [w["participantId"] for w in rerun_drawn["winners"]] == winners

    redrawn = (await gql(http, REDRAW_RAFFLE, {"id": prepared["id"], "a": [winners[0]]}, token))[
        "redrawRaffle"
    ]
    now = [w["participantId"] for w in redrawn["winners"]]
    assert now == recompute("audience-1729", candidates, 2, [winners[0]])
    assert winners[0] not in now and winners[1] in now
    assert redrawn["absent"] == [winners[0]]

    log = (await gql(http, "{ auditLog(first: 5) { action target after } }", token=token))[
        "auditLog"
    ]
    assert [e["action"] for e in log[:4]] == [
        "raffle.redraw", "raffle.draw", "raffle.prepare", "raffle.draw"
    ]
    assert log[0]["target"] == prepared["id"]
    assert log[0]["after"]["seed"] == "audience-1729"
    assert log[0]["after"]["candidates"] == candidates
    assert log[0]["after"]["winners"] == now


async def test_a_random_seed_is_shown_before_the_draw_and_kept(ranked: Any) -> None:
    _, http, token, _ = ranked
    prepared = (await gql(http, PREPARE_RAFFLE, {"n": 3, "top": None, "seed": None}, token))[
        "prepareRaffle"
    ]
    assert len(prepared["seed"]) == 16 and prepared["winners"] == []
    assert len(prepared["candidates"]) == 6  # everyone eligible: the staff member is not
    drawn = (await gql(http, DRAW_RAFFLE, {"id": prepared["id"]}, token))["drawRaffle"]
    assert drawn["seed"] == prepared["seed"]
    candidates = [c["participantId"] for c in prepared["candidates"]]
    assert [w["participantId"] for w in drawn["winners"]] == recompute(
        prepared["seed"], candidates, 3, []
    )


async def test_raffle_input_is_checked(ranked: Any) -> None:
    _, http, token, _ = ranked
    for variables in ({"n": 7, "top": None, "seed": "x"}, {"n": 3, "top": 2, "seed": "x"},
                      {"n": 0, "top": None, "seed": "x"}):
        with pytest.raises(GraphQLErrors) as caught:
            await gql(http, PREPARE_RAFFLE, variables, token)
        assert caught.value.code == "INVALID_INPUT"
    prepared = (await gql(http, PREPARE_RAFFLE, {"n": 1, "top": None, "seed": "x"}, token))[
        "prepareRaffle"
    ]
    with pytest.raises(GraphQLErrors) as caught:
        await gql(http, REDRAW_RAFFLE, {"id": prepared["id"], "a": []}, token)
    assert caught.value.errors[0]["extensions"]["reason"] == "not_drawn"
    drawn = (await gql(http, DRAW_RAFFLE, {"id": prepared["id"]}, token))["drawRaffle"]
    loser = next(c for c in prepared["candidates"]
                 if c["participantId"] != drawn["winners"][0]["participantId"])
    with pytest.raises(GraphQLErrors) as caught:
        await gql(http, REDRAW_RAFFLE, {"id": prepared["id"], "a": [loser["participantId"]]}, token)
    assert caught.value.code == "INVALID_INPUT"

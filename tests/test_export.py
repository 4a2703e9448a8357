"""Winners and submissions exports, checked cell by cell against a leaderboard that the
test builds itself from what each player drew: hidden drawings, banned players and staff
left out, ties ordered by who submitted first, contact only with consent."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.client import GraphQLErrors, gql
from tests.documents import JOIN_WITH_CONTACT, STAFF, SUBMISSION, SUBMIT
from tests.organiser_api import login, play, running

pytestmark = pytest.mark.timeout(120)

WINNER_HEADER = [
    "rank", "nickname", "score", "score_display", "prompt", "image_url", "reached_at",
    "reached_at_iso", "submissions", "participant_id", "submission_id", "claim_code", "contact",
]  # fmt: skip


@dataclass
class Player:
    nickname: str
    id: str
    token: str
    claim_code: str
    contact: str = ""
    drawings: list[dict[str, Any]] = field(default_factory=list)


async def enrol(http: httpx.AsyncClient, nickname: str, contact: str | None = None) -> Player:
    variables = {"n": nickname, "c": contact, "ok": contact is not None}
    joined = (await gql(http, JOIN_WITH_CONTACT, variables))["join"]
    participant = joined["participant"]
    return Player(nickname, participant["id"], joined["token"], participant["claimCode"],
                  contact or "")


async def draw(app: Any, http: httpx.AsyncClient, player: Player, prompt: str) -> dict[str, Any]:
    done = await play(app, http, player.token, prompt)
    details: dict[str, Any] = (await gql(http, SUBMISSION, {"id": done["id"]}, player.token))[
        "submission"
    ]
    player.drawings.append(details)
    return details


def expected_winners(
    players: list[Player], hidden: set[str], base_url: str
) -> list[dict[str, Any]]:
    """The leaderboard by the rules: best shown drawing per player (copies never rank),
    ties by submission."""
    rows = []
    for player in players:
        shown = [
            d
            for d in player.drawings
            if d["id"] not in hidden and d["status"] == "DONE" and not d["copied"]
        ]
        if not shown:
            continue
        best = min(shown, key=lambda d: (-d["score"], d["id"]))
        rows.append({
            "nickname": player.nickname,
            "score": best["score"],
            "score_display": f"{best['score'] * 100:.2f}%",
            "prompt": best["prompt"],
            "image_url": base_url + best["imageUrl"],
            "reached_at": best["createdAt"],
            "reached_at_iso": datetime.fromtimestamp(best["createdAt"], UTC).isoformat(),
            "submissions": len(player.drawings),
            "participant_id": player.id,
            "submission_id": best["id"],
            "claim_code": player.claim_code,
            "contact": player.contact,
        })
    rows.sort(key=lambda r: (-r["score"], r["submission_id"]))
    return [{"rank": rank, **row} for rank, row in enumerate(rows, start=1)]


def as_csv_cells(row: dict[str, Any]) -> list[str]:
    """How the test expects each value in CSV: full-precision floats, no formulas."""
    cells = []
    for column in WINNER_HEADER:
        value = row[column]
        if isinstance(value, float):
            cells.append(repr(value))
        elif isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
            cells.append("'" + value)
        else:
            cells.append(str(value))
    return cells


@pytest.fixture
async def contest(live: Any) -> Any:
    """A finished contest: players, staff, a ban, a hidden drawing, a tie."""
    async with running(live, participant_burst=5) as (app, http):
        token = await login(http)
        alice = await enrol(http, "alice", "alice@example.org")
        bob, frank = await enrol(http, "bob"), await enrol(http, "frank")
        carol, dave, erin = [await enrol(http, n) for n in ("carol", "dave", "erin")]
        for prompt in ("a yellow duck", "=SUM(A1) a swan"):
            await draw(app, http, alice, prompt)
        shared = await draw(app, http, bob, "a duck and a swan")
        copy = await draw(app, http, frank, "A duck and a SWAN")  # the same drawing: a copy
        await draw(app, http, frank, "a swan and a duck")  # frank's own
        await draw(app, http, carol, "our mascot")
        await draw(app, http, dave, "a macro duck")
        rude = await draw(app, http, erin, "a rude swan")
        await draw(app, http, erin, "a kind swan")
        await gql(http, STAFF, {"id": carol.id},
                  token)
        await gql(http, "mutation($id: ID!) { banParticipant(id: $id) { banned } }",
                  {"id": dave.id}, token)
        await gql(http, "mutation($id: ID!) { hideSubmission(id: $id) { hidden } }",
                  {"id": rude["id"]}, token)
        assert copy["copied"] and copy["score"] == shared["score"]
        ranked = [alice, bob, frank, erin]
        yield app, http, token, ranked, {rude["id"]}, [alice, bob, frank, carol, dave, erin]


async def test_winners_csv_and_json_match_the_leaderboard_cell_by_cell(contest: Any) -> None:
    app, http, token, ranked, hidden, _ = contest
    expected = expected_winners(ranked, hidden, app.base_url)
    auth = {"Authorization": f"Bearer {token}"}

    response = await http.get("/admin/export/current/winners.csv", headers=auth)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    lines = list(csv.reader(io.StringIO(response.text)))
    assert lines[0] == WINNER_HEADER
    assert len(lines) - 1 == len(expected) == 4
    assert "frank" in [r["nickname"] for r in expected]  # with his own prompt, not the copy
    for got, want in zip(lines[1:], expected, strict=True):
        for column, cell, wanted in zip(WINNER_HEADER, got, as_csv_cells(want), strict=True):
            assert cell == wanted, (want["nickname"], column)

    document = (await http.get("/admin/export/current/winners.json", headers=auth)).json()
    assert document["kind"] == "winners"
    assert document["winners"] == expected

    top = (await http.get("/admin/export/current/winners.json?top=2", headers=auth)).json()
    assert top["winners"] == expected[:2]


async def test_the_public_board_agrees_with_the_export(contest: Any) -> None:
    _, http, _, ranked, hidden, _ = contest
    expected = expected_winners(ranked, hidden, "")
    board = (await gql(http, "{ leaderboard(first: 20) { submissions { id name rank } } }"))
    assert board["leaderboard"]["submissions"] == [
        {"id": r["submission_id"], "name": r["nickname"], "rank": r["rank"]} for r in expected
    ]


async def test_all_submissions_export_has_every_submission_and_no_contact(contest: Any) -> None:
    _, http, token, _, hidden, everyone = contest
    auth = {"Authorization": f"Bearer {token}"}
    rows = (await http.get("/admin/export/current/submissions.json", headers=auth)).json()[
        "submissions"
    ]
    drawn = {d["id"]: (p, d) for p in everyone for d in p.drawings}
    assert sorted(r["id"] for r in rows) == sorted(drawn) == [r["id"] for r in rows]
    for row in rows:
        player, drawing = drawn[row["id"]]
        assert (row["nickname"], row["participant_id"]) == (player.nickname, player.id)
        assert (row["prompt"], row["score"], row["status"]) == (
            drawing["prompt"], drawing["score"], "DONE"
        )
        assert row["hidden"] is (row["id"] in hidden)
        assert row["staff"] is (player.nickname == "carol")
        assert row["banned"] is (player.nickname == "dave")
        assert "contact" not in row and "alice@example.org" not in json.dumps(row)
    text = (await http.get("/admin/export/current/submissions.csv", headers=auth)).text
    assert "alice@example.org" not in text
    assert len(list(csv.reader(io.StringIO(text)))) == len(rows) + 1


async def test_drawings_zip_holds_every_drawing_with_its_manifest(contest: Any) -> None:
    _, http, token, _, hidden, everyone = contest
    auth = {"Authorization": f"Bearer {token}"}
    async with http.stream("GET", "/admin/export/current/drawings.zip", headers=auth) as got:
        assert got.status_code == 200
        assert got.headers["content-type"] == "application/zip"
        assert "content-length" not in got.headers  # streamed, not built whole first
        archive = zipfile.ZipFile(io.BytesIO(await got.aread()))
    assert archive.testzip() is None
    manifest = list(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode())))
    submissions = (await http.get("/admin/export/current/submissions.csv", headers=auth)).text
    # Every submission (hidden, staff and banned ones too: organisers see all), as in the
    # submissions export, plus the file in the zip that holds its picture.
    assert [{k: v for k, v in row.items() if k != "file"} for row in manifest] == list(
        csv.DictReader(io.StringIO(submissions))
    )
    drawn = {d["id"]: d for p in everyone for d in p.drawings}
    assert {row["id"] for row in manifest} == set(drawn)
    assert {row["id"] for row in manifest if row["hidden"] == "true"} == hidden
    for row in manifest:
        if row["id"] in hidden:  # served to no one, so not in the zip either
            assert row["file"] == "", row
            continue
        picture = (await http.get(row["image_url"])).content
        assert archive.read(row["file"]) == picture, row["id"]
    files = {r["file"] for r in manifest if r["file"]}
    assert sorted(archive.namelist()) == sorted({"manifest.csv", *files})
    assert len(archive.namelist()) < len(manifest) + 1  # a repeated prompt shares a picture
    audit = await gql(http, "{ auditLog(first: 2) { action } }", token=token)
    assert audit["auditLog"] == [{"action": "export.submissions"}, {"action": "export.drawings"}]


async def test_drawings_zip_is_for_organisers_only(contest: Any) -> None:
    app, _, _, ranked, _, _ = contest
    for headers in ({}, {"Authorization": f"Bearer {ranked[0].token}"},
                    {"Authorization": "Bearer lko_forged"}):
        # A client of its own: the contest's client holds the organiser's login cookie.
        async with httpx.AsyncClient(base_url=app.base_url) as anyone:
            got = await anyone.get("/admin/export/current/drawings.zip", headers=headers)
        assert got.status_code in (401, 403), headers
        assert got.headers["content-type"] == "application/json"
        assert got.json()["error"]["code"] in ("UNAUTHENTICATED", "FORBIDDEN")


async def test_contact_needs_consent(live: Any) -> None:
    async with running(live, worker=False) as (_, http):
        with pytest.raises(GraphQLErrors) as caught:
            await gql(http, JOIN_WITH_CONTACT, {"n": "zed", "c": "zed@example.org", "ok": False})
        assert caught.value.errors[0]["extensions"]["reason"] == "consent_required"
        player = await enrol(http, "zoe")
        assert len(player.claim_code) == 6
        me = (await gql(http, "{ me { claimCode } }", token=player.token))["me"]
        assert me["claimCode"] == player.claim_code
        submitted = (await gql(http, SUBMIT, {"p": "a duck"}, player.token))["submitPrompt"]
        assert submitted["status"] == "QUEUED"


async def test_claim_codes_identify_the_winner(contest: Any) -> None:
    _, http, token, ranked, _, _ = contest
    alice = ranked[0]
    found = await gql(
        http, "query($c: String!) { claim(code: $c) { id nickname } }",
        {"c": alice.claim_code.lower()}, token,
    )
    assert found["claim"] == {"id": alice.id, "nickname": "alice"}


async def test_export_command_writes_the_same_rows(contest: Any, tmp_path: Any) -> None:
    app, http, token, ranked, hidden, _ = contest
    out = tmp_path / "winners.json"
    env = {
        **os.environ,
        "LOOKALIKE_REDIS_URL": app.settings.redis_url,
        "LOOKALIKE_DATA_DIR": str(app.settings.data_dir),
    }
    done = subprocess.run(
        [sys.executable, "-m", "server.cli", "export", "winners", "--format", "json",
         "--output", str(out)],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(out.read_text())["winners"] == expected_winners(ranked, hidden, "")
    audit = (await gql(http, "{ auditLog(first: 1) { action who } }", token=token))
    assert audit["auditLog"] == [{"action": "export.winners", "who": "cli"}]


def test_csv_cells_keep_precision_and_defuse_formulas() -> None:
    from server.organiser.export import csv_cell, display_score

    assert csv_cell(0.5910864472389221) == "0.5910864472389221"
    assert display_score(0.5910864472389221) == "59.11%"
    assert display_score(None) == ""
    for formula in ("=HYPERLINK(1)", "+1", "-1", "@SUM(A1)"):
        assert csv_cell(formula) == "'" + formula
    assert csv_cell("a duck = a swan") == "a duck = a swan"
    assert (csv_cell(True), csv_cell(None), csv_cell(3)) == ("true", "", "3")


@pytest.mark.parametrize("delimiter", [",", ";"], ids=["comma locale", "semicolon locale"])
def test_no_cell_starts_a_formula_whichever_separator_a_spreadsheet_uses(delimiter: str) -> None:
    """A spreadsheet in a locale whose list separator is ";" (most of Europe) splits each
    line at every ";": what follows one in a cell must not run as a formula either."""
    from server.organiser.export import render

    nicknames = ['=HYPERLINK("http://evil.example","prize")', "a;=1+1", 'b;"@SUM(A1)', "c; -2"]
    rows = [{"rank": n + 1, "nickname": name} for n, name in enumerate(nicknames)]
    text = render("winners", rows, ("rank", "nickname"), "csv", None)
    cells = [cell for row in csv.reader(io.StringIO(text), delimiter=delimiter) for cell in row]
    starts = [cell.lstrip(' "') for cell in cells]
    assert not [cell for cell in starts if cell.startswith(("=", "+", "-", "@"))]
    if delimiter == ",":  # the file's own separator: the text comes back, defused
        assert cells[3] == "'" + nicknames[0] and cells[5] == "a;'=1+1"

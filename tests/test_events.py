"""Several events in one installation: targets, schedules, the current event, separate
boards and dedup spaces; from the API, the upload route and the command line."""

from __future__ import annotations

import base64
import io
import os
import random
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import PIL.Image
import pytest

from server.state import keys
from tests.client import GraphQLErrors, gql, ws_connect
from tests.documents import (
    BOARD_OF,
    CLOSE,
    CREATE_EVENT,
    EVENT_BY_ID,
    JOIN_EVENT,
    SCHEDULE,
    SET_CURRENT,
    SUBMIT,
)
from tests.organiser_api import login, play, running, wait_done

pytestmark = pytest.mark.timeout(90)


def png(width: int, height: int, colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    PIL.Image.new("RGB", (width, height), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture
async def served(live: Any) -> Any:
    # A body limit above the target limit, so that the target's own checks answer here.
    settings = {"target_max_side": 256, "target_max_bytes": 20_000, "max_body_bytes": 100_000}
    async with running(live, worker=False, **settings) as pair:
        yield pair


async def create(
    http: httpx.AsyncClient,
    token: str,
    title: str,
    image: bytes | None = None,
    *,
    current: bool = False,
    hold: bool = False,
) -> dict[str, Any]:
    variables = {
        "t": title,
        "img": None if image is None else b64(image),
        "current": current,
        "hold": hold,
    }
    event: dict[str, Any] = (await gql(http, CREATE_EVENT, variables, token))["createEvent"]
    return event


async def test_an_uploaded_target_is_checked_and_stored_as_webp(served: Any) -> None:
    _, http = served
    token = await login(http)
    event = await create(http, token, "Day 2", png(600, 300, (200, 30, 30)))
    assert (event["title"], event["status"], event["current"]) == ("Day 2", "OPEN", False)
    picture = await http.get(event["targetImageUrl"])
    assert picture.headers["content-type"] == "image/webp"
    with PIL.Image.open(io.BytesIO(picture.content)) as stored:
        assert stored.format == "WEBP"
        assert stored.size == (256, 128)  # scaled to target_max_side, shape kept
        red, green, _ = stored.convert("RGB").getpixel((128, 64))
        assert red > 150 and green < 80

    for bad, reason in (
        (b"GIF89a but not really", "not_an_image"),
        (png(8, 8, (0, 0, 0)), "too_small"),
        (png(4000, 4000, (1, 2, 3)), "too_large"),  # over this test's 20 kB limit
    ):
        with pytest.raises(GraphQLErrors) as caught:
            await gql(
                http,
                'mutation($i: String!) { createEvent(title: "x", targetImageBase64: $i) { id } }',
                {"i": b64(bad)},
                token,
            )
        assert caught.value.code == "INVALID_INPUT"
        assert caught.value.errors[0]["extensions"]["reason"] == reason
    events = (await gql(http, "{ events { title } }", token=token))["events"]
    assert len(events) == 2 and events[1]["title"] == "Day 2"  # refused ones never made


async def test_the_upload_route_takes_raw_picture_bytes(served: Any) -> None:
    _, http = served
    token = await login(http)
    auth = {"Authorization": f"Bearer {token}"}
    event = await create(http, token, "Day 3")
    url = f"/admin/events/{event['id']}/target"
    response = await http.post(url, content=png(64, 64, (10, 200, 10)), headers=auth)
    assert response.status_code == 200
    new_url = response.json()["targetImageUrl"]
    assert new_url != event["targetImageUrl"]
    assert (await gql(http, EVENT_BY_ID, {"e": event["id"]}))["event"]["title"] == "Day 3"
    refused = await http.post(url, content=b"\x89PNG broken", headers=auth)
    assert refused.status_code == 400
    assert refused.json()["error"]["reason"] == "not_an_image"
    missing = await http.post(
        "/admin/events/0190d6a4-0000-7000-8000-000000000000/target",
        content=png(64, 64, (1, 1, 1)),
        headers=auth,
    )
    assert missing.status_code == 404


async def test_a_photo_bigger_than_a_graphql_body_goes_through_the_upload_route(
    live: Any,
) -> None:
    noise = PIL.Image.frombytes("RGB", (256, 256), random.Random(7).randbytes(256 * 256 * 3))
    buffer = io.BytesIO()
    noise.save(buffer, format="PNG")
    photo = buffer.getvalue()
    async with running(live, worker=False) as (app, http):
        assert len(photo) > app.settings.max_body_bytes  # as a real photo would be
        token = await login(http)
        event = await create(http, token, "Day 4")
        with pytest.raises(GraphQLErrors) as refused:
            await create(http, token, "Day 5", photo)
        assert refused.value.code == "PAYLOAD_TOO_LARGE"
        response = await http.post(
            f"/admin/events/{event['id']}/target",
            content=photo,
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 200
        assert response.json()["targetImageUrl"] != event["targetImageUrl"]


async def test_events_have_their_own_board_dedup_space_and_target(live: Any) -> None:
    async with running(live) as (app, http):
        token = await login(http)
        first = (await gql(http, "{ event { id } }"))["event"]
        second = await create(http, token, "Day 2", png(64, 64, (250, 250, 250)))
        alice = (await gql(http, JOIN_EVENT, {"n": "alice", "e": first["id"]}))["join"]
        bob = (await gql(http, JOIN_EVENT, {"n": "bob", "e": second["id"]}))["join"]
        a = await play(app, http, alice["token"], "a duck on a pond")
        submitted = (await gql(http, SUBMIT, {"p": "a duck on a pond"}, bob["token"]))
        assert submitted["submitPrompt"]["status"] == "QUEUED"  # not a copy of alice's
        b = await wait_done(app, submitted["submitPrompt"]["id"])
        assert (a["status"], b["status"]) == ("DONE", "DONE")

        board_a = (await gql(http, BOARD_OF, {"e": first["id"]}))["leaderboard"]
        board_b = (await gql(http, BOARD_OF, {"e": second["id"]}))["leaderboard"]
        assert board_a["submissions"] == [{"name": "alice", "score": a["score"]}]
        assert board_b["submissions"] == [{"name": "bob", "score": b["score"]}]
        # Each drawing was scored against its own event's target.
        from server.state.connection import async_client
        from server.state.store import Store

        client = async_client(app.settings.redis_url)
        store = Store(client)
        targets = {
            (await store.submission(s)).target_key
            for s in (a["id"], b["id"])
        }
        await client.aclose()
        assert len(targets) == 2


async def test_the_current_event_is_what_play_and_board_show(served: Any) -> None:
    _, http = served
    token = await login(http)
    day1 = (await gql(http, "{ event { id current } }"))["event"]
    assert day1["current"] is True
    day2 = await create(http, token, "Day 2")
    await gql(http, SET_CURRENT, {"id": day2["id"]},
              token)
    assert (await gql(http, "{ event { id title current } }"))["event"] == {
        "id": day2["id"], "title": "Day 2", "current": True,
    }
    await gql(http, JOIN_EVENT, {"n": "carol", "e": None})
    counts = {
        e["id"]: e["participantCount"]
        for e in (await gql(http, "{ events { id participantCount } }", token=token))["events"]
    }
    assert counts == {day1["id"]: 0, day2["id"]: 1}


async def test_closing_refuses_the_next_prompt_on_an_open_websocket(served: Any) -> None:
    app, http = served
    token = await login(http)
    event = (await gql(http, "{ event { id } }"))["event"]
    joined = (await gql(http, JOIN_EVENT, {"n": "alice", "e": None}))["join"]
    async with ws_connect(app.ws_url, {"token": joined["token"]}) as ws:
        first = (await ws.execute(SUBMIT, {"p": "a duck"}))["submitPrompt"]
        assert first["status"] == "QUEUED"
        await gql(http, CLOSE, event, token)
        with pytest.raises(GraphQLErrors) as caught:
            await ws.execute(SUBMIT, {"p": "a late duck"})
        assert caught.value.code == "EVENT_CLOSED"


async def test_open_close_and_schedule(served: Any) -> None:
    _, http = served
    token = await login(http)
    event = (await gql(http, "{ event { id } }"))["event"]
    ident = {"id": event["id"]}
    closed = await gql(http, CLOSE, ident, token)
    assert closed["closeEvent"]["status"] == "CLOSED"
    with pytest.raises(GraphQLErrors) as caught:
        await gql(http, JOIN_EVENT, {"n": "late", "e": None})
    assert caught.value.code == "EVENT_CLOSED"
    opened = await gql(http, "mutation($id: ID!) { openEvent(id: $id) { status } }", ident, token)
    assert opened["openEvent"]["status"] == "OPEN"

    later = time.time() + 3600
    scheduled = (await gql(http, SCHEDULE, {**ident, "o": later, "c": later + 60}, token))
    assert scheduled["setEventSchedule"]["status"] == "SCHEDULED"
    with pytest.raises(GraphQLErrors) as caught:
        await gql(http, JOIN_EVENT, {"n": "early", "e": None})
    assert caught.value.code == "EVENT_CLOSED"
    assert caught.value.errors[0]["extensions"]["opensAt"] == later
    with pytest.raises(GraphQLErrors) as caught:
        await gql(http, SCHEDULE, {**ident, "o": later, "c": later - 1}, token)
    assert caught.value.code == "INVALID_INPUT"
    reopened = await gql(
        http, "mutation($id: ID!) { openEvent(id: $id) { status opensAt } }", ident, token
    )
    assert reopened["openEvent"] == {"status": "OPEN", "opensAt": None}
    past = time.time() - 1
    ended = await gql(http, SCHEDULE, {**ident, "o": None, "c": past}, token)
    assert ended["setEventSchedule"]["status"] == "CLOSED"


async def test_a_target_cannot_change_under_existing_scores(served: Any) -> None:
    _, http = served
    token = await login(http)
    event = (await gql(http, "{ event { id } }"))["event"]
    dave = (await gql(http, JOIN_EVENT, {"n": "dave2", "e": None}))["join"]["token"]
    await gql(http, SUBMIT, {"p": "a swan"}, dave)
    with pytest.raises(GraphQLErrors) as caught:
        await gql(
            http,
            "mutation($id: ID!, $i: String!) { setEventTarget(id: $id, imageBase64: $i) { id } }",
            {"id": event["id"], "i": b64(png(64, 64, (0, 0, 255)))},
            token,
        )
    assert caught.value.errors[0]["extensions"]["reason"] == "has_submissions"


def lookalike(data_dir: Path, redis_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "LOOKALIKE_REDIS_URL": redis_url,
        "LOOKALIKE_DATA_DIR": str(data_dir),
        "LOOKALIKE_MODELS": "tiny",
    }
    return subprocess.run(
        [sys.executable, "-m", "server.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_event_commands(tmp_path: Path, redis_url: str, redis_client: Any) -> None:
    target = tmp_path / "swan.png"
    target.write_bytes(png(100, 100, (240, 240, 240)))
    made = lookalike(
        tmp_path, redis_url, "event", "create", "--title", "Day 1", "--target", str(target),
        "--opens", "2030-06-10T09:00:00+00:00", "--closes", "2030-06-10T18:00:00+00:00",
        "--current",
    )
    assert made.returncode == 0, made.stderr
    day1 = made.stdout.strip()
    day2 = lookalike(tmp_path, redis_url, "event", "create", "--title", "Day 2").stdout.strip()
    event = redis_client.hgetall(keys.event(day1))
    assert event["title"] == "Day 1"
    assert float(event["opens_at"]) == datetime(2030, 6, 10, 9, tzinfo=UTC).timestamp()
    assert (tmp_path / "images" / f"{event['target_key']}.webp").exists()
    assert redis_client.get(keys.CURRENT_EVENT) == day1

    listed = lookalike(tmp_path, redis_url, "event", "list").stdout.splitlines()
    assert listed == [f"* {day1}  SCHEDULED  Day 1", f"  {day2}  OPEN       Day 2"]
    for action, expected in (("close", "CLOSED"), ("open", "OPEN")):
        assert lookalike(tmp_path, redis_url, "event", action, day2).returncode == 0
        assert redis_client.hget(keys.event(day2), "status") == expected
    assert lookalike(tmp_path, redis_url, "event", "set-current", day2).returncode == 0
    assert redis_client.get(keys.CURRENT_EVENT) == day2

    wrong = lookalike(tmp_path, redis_url, "event", "open", "no-such-event")
    assert wrong.returncode == 1 and "expected an event id" in wrong.stderr
    actions = [fields["action"] for _, fields in redis_client.xrange(keys.AUDIT)]
    assert actions == [
        "event.create", "event.create", "event.close", "event.open", "event.set-current"
    ]
    assert {fields["who"] for _, fields in redis_client.xrange(keys.AUDIT)} == {"cli"}

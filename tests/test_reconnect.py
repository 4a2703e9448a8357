"""Redis goes away and comes back: servers and workers reconnect by themselves, and what
they missed meanwhile is re-read, not lost (pub/sub is only a hint)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from pipelines.worker import Worker
from server.organiser.demo import target_webp
from server.state import keys
from server.state.connection import EmbeddedRedis, async_client, free_port
from server.state.pictures import ImageStore, put_target
from server.state.results import consuming
from server.state.store import Store
from tests.client import gql, ws_connect
from tests.documents import BOARD_FEED, JOIN, SUBMISSION, SUBMIT, WATCH
from tests.seeding import queue_prompt
from tests.waiting import next_until, until

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    """A private, persistent (AOF) Redis on a fixed port, so it can be restarted."""
    with EmbeddedRedis(tmp_path / "redis", persistent=True, port=free_port()) as server:
        yield server


@pytest.fixture
async def app(live: Any, redis_server: EmbeddedRedis) -> AsyncIterator[Any]:
    async with live(redis_url=redis_server.url, participant_burst=10) as running:
        yield running


async def submit(http: httpx.AsyncClient, nickname: str, prompt: str) -> str:
    token = (await gql(http, JOIN, {"n": nickname}))["join"]["token"]
    submission_id: str = (await gql(http, SUBMIT, {"p": prompt}, token))["submitPrompt"]["id"]
    return submission_id


def board_ids(payload: dict[str, Any]) -> set[str]:
    return {s["id"] for s in payload["leaderboard"]["submissions"]}


async def test_after_a_redis_restart_boards_resynchronise_and_the_worker_carries_on(
    app: Any, redis_server: EmbeddedRedis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="pipelines.worker")
    async with (
        httpx.AsyncClient(base_url=app.base_url, timeout=30) as http,
        ws_connect(app.ws_url) as ws,
    ):
        board = ws.subscribe(BOARD_FEED)
        before = await submit(http, "alice", "a duck before the restart")
        await next_until(
            board, lambda p: before in board_ids(p), timeout=30, what="alice on the board"
        )

        redis_server.stop()

        # Longer than the clients' own retries: the worker's loop must outlive the outage.
        async def worker_noticed() -> bool:
            return any("redis unavailable" in r.getMessage() for r in caplog.records)

        await until(worker_noticed, timeout=20, what="the worker to notice the outage")
        redis_server.start()

        after = await submit(http, "bob", "a swan after the restart")
        seen = await next_until(
            board, lambda p: after in board_ids(p), timeout=40, what="bob on the same board"
        )
        assert board_ids(seen) == {before, after}  # the AOF kept alice; bob arrived live
        assert seen["leaderboard"]["submissionCount"] == 2
        done = (await gql(http, SUBMISSION, {"id": after}))["submission"]
        assert done["status"] == "DONE" and 0.0 <= done["score"] <= 1.0
    assert any("redis reachable again" in r.getMessage() for r in caplog.records)


async def test_a_lost_hint_is_made_good_by_re_reading(
    live: Any, redis_server: EmbeddedRedis
) -> None:
    async with (
        live(worker=False, redis_url=redis_server.url) as app,
        httpx.AsyncClient(base_url=app.base_url, timeout=30) as http,
    ):
        submission_id = await submit(http, "carol", "a duck nobody draws")
        async with ws_connect(app.ws_url) as ws:
            watch = ws.subscribe(WATCH, {"id": submission_id})
            first = await next_until(watch, lambda _: True, timeout=10, what="the first state")
            assert first["submission"]["status"] == "QUEUED"

            # Cut the server's pub/sub connection and change the state in one transaction,
            # publishing nothing: the hint is lost for sure. redis-py reconnects the
            # connection on its own; the server must then re-read what it watches.
            client = async_client(redis_server.url)
            try:
                async with client.pipeline(transaction=True) as pipe:
                    pipe.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
                    pipe.hset(keys.submission(submission_id), "status", "GENERATING")
                    killed, _ = await pipe.execute()
            finally:
                await client.aclose()
            assert killed >= 1

            changed = await next_until(
                watch,
                lambda p: p["submission"]["status"] != "QUEUED",
                timeout=15,
                what="the change made while the server was not listening",
            )
            assert changed["submission"]["status"] == "GENERATING"


async def test_a_worker_outlives_a_redis_that_comes_back_empty(
    make_settings: Any,
    make_worker_settings: Any,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = EmbeddedRedis(tmp_path / "volatile", persistent=False, port=free_port())
    with server:
        settings = make_settings(redis_url=server.url)
        client = async_client(server.url)
        worker = await asyncio.to_thread(
            Worker.load, make_worker_settings(redis_url=server.url), client
        )
        stop = asyncio.Event()
        running = asyncio.create_task(worker.run(stop))
        images = ImageStore(settings.images_dir)
        store = Store(client)
        try:
            await asyncio.wait_for(worker.ready.wait(), 30)
            server.stop()
            server.start()  # no AOF: the streams and their consumer groups are gone
            async with consuming(server.url, store, images, claim_idle_ms=30_000):
                target = await put_target(images, client, target_webp(64))
                event = await store.event(await store.create_event("again", target))
                record = await queue_prompt(store, event, "dora", "a duck")

                async def finished() -> bool:
                    assert not running.done(), "the worker loop ended"
                    return (await store.submission(record.id)).status == "DONE"

                await until(finished, timeout=30, what="the job sent after the restart")
            assert any("lost its consumer group" in r.getMessage() for r in caplog.records)
        finally:
            stop.set()
            await asyncio.wait_for(running, 30)
            await client.aclose()


async def test_while_redis_is_away_boards_say_they_show_the_last_known_state(
    app: Any, redis_server: EmbeddedRedis
) -> None:
    stale = "subscription { leaderboard { stale submissionCount } }"
    screen_url = app.ws_url + "/screen"  # the big screens' own endpoint, and /graphql
    async with ws_connect(app.ws_url) as ws, ws_connect(screen_url) as screen:
        boards = [ws.subscribe(stale), screen.subscribe(stale)]
        for board in boards:
            assert (await anext(board))["leaderboard"]["stale"] is False
        redis_server.stop()
        for board in boards:
            await next_until(
                board, lambda p: p["leaderboard"]["stale"], timeout=30, what="a stale board"
            )
        redis_server.start()
        for board in boards:
            await next_until(
                board, lambda p: not p["leaderboard"]["stale"], timeout=40, what="a fresh board"
            )

"""``lookalike up`` heals itself: its embedded Redis, then its worker, SIGKILLed while
players submit; the event serves again on its own, every answer in between is typed,
and every acknowledged submission ends scored."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.ops.doctor import CRASH_LOOP, restarts_check
from server.ops.supervisor import (
    PartState,
    WorkerProcess,
    read_state,
    restart_delay,
    supervised,
)
from tests.documents import JOIN, SUBMISSION, SUBMIT
from tests.pages_support import Site, running_site
from tests.waiting import until

RECOVERY_S = 30.0  # "within seconds": the restart itself, a worker's model load included
# While a part is down the answer is typed and says when to try again.
TYPED_WHILE_DOWN = {"UNAVAILABLE", "BUSY"}


def test_restarts_back_off_exponentially_up_to_a_cap() -> None:
    delays = [restart_delay(n) for n in range(1, 10)]
    assert delays[:4] == [0.5, 1.0, 2.0, 4.0]
    assert delays == sorted(delays) and delays[-1] == 30.0


async def test_a_part_that_keeps_dying_backs_off_loudly_and_is_a_doctor_no_go(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    crashing = WorkerProcess([sys.executable, "-c", "raise SystemExit(3)"], os.environ)
    started = time.monotonic()
    crashing.start()
    with supervised([crashing], tmp_path):

        async def third_crash() -> PartState | None:
            state = read_state(tmp_path).get("worker")
            return state if state and state.crashes >= CRASH_LOOP else None

        state = await until(third_crash, timeout=20, what="three crashes in a row")
    # The restarts came 0.5 s, then 1 s after a crash: backed off, not spinning.
    assert time.monotonic() - started >= restart_delay(1) + restart_delay(2)
    assert state.in_a_row >= CRASH_LOOP and state.last_exit == 3
    loud = [r for r in caplog.records if r.name == "server.ops.supervisor" and "!!!" in r.message]
    assert [r.levelno for r in loud[:2]] == [logging.ERROR, logging.CRITICAL]
    check = restarts_check(tmp_path)
    assert check.status == "no-go" and "worker crashed" in check.detail


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    data_dir = tmp_path_factory.mktemp("healing-site")
    with running_site(
        data_dir,
        # A dead worker's jobs are reclaimed this soon (production: 30 s).
        job_claim_idle_ms="2000",
        participant_burst="1000",
        join_burst="100000",  # every drawing here is a new player's
        ip_burst="100000",
        ip_rate_per_s="1000",
    ) as url:
        yield Site(url, data_dir)


@dataclass
class Players:
    """Players joining and submitting, one drawing each, until told to stop."""

    http: httpx.AsyncClient
    acknowledged: list[tuple[str, str]] = field(default_factory=list)  # (token, id)
    codes: list[str] = field(default_factory=list)  # every error code answered
    statuses: set[int] = field(default_factory=set)

    async def call(self, query: str, variables: dict[str, Any], token: str = "") -> Any:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        answer = await self.http.post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers
        )
        self.statuses.add(answer.status_code)
        body = answer.json()
        for error in body.get("errors") or []:
            self.codes.append(error["extensions"]["code"])
            assert error["extensions"].get("retryAfter", 0) > 0, error
        return body.get("data")

    async def play(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            joined = await self.call(JOIN, {"n": f"p-{uuid.uuid4().hex[:8]}"})
            if not joined:
                continue
            token = joined["join"]["token"]
            submitted = await self.call(SUBMIT, {"p": f"a duck, {uuid.uuid4().hex}"}, token)
            if submitted:
                self.acknowledged.append((token, submitted["submitPrompt"]["id"]))


async def _ready(http: httpx.AsyncClient) -> bool:
    try:
        return (await http.get("/readyz")).status_code == 200
    except httpx.HTTPError:
        return False


async def _kill_and_wait_for_restart(site: Site, http: httpx.AsyncClient, part: str) -> None:
    before = read_state(site.data_dir)[part]
    assert before.pid is not None and before.crashes == 0
    os.kill(before.pid, signal.SIGKILL)

    async def restarted() -> PartState | None:
        state = read_state(site.data_dir).get(part)
        return state if state and state.crashes == 1 and state.pid else None

    after = await until(restarted, timeout=RECOVERY_S, what=f"the {part} to be restarted")
    assert after.pid != before.pid and after.last_exit == -signal.SIGKILL
    await until(lambda: _ready(http), timeout=RECOVERY_S, what="/readyz after the restart")


async def _scored(players: Players, token: str, submission_id: str) -> bool:
    data = await players.call(SUBMISSION, {"id": submission_id}, token)
    status = data and data["submission"] and data["submission"]["status"]
    assert status != "FAILED", submission_id
    return status == "DONE"


@pytest.mark.timeout(420)
async def test_the_event_heals_after_redis_and_then_the_worker_are_killed(site: Site) -> None:
    async with httpx.AsyncClient(base_url=site.url, timeout=30.0) as http:
        players = Players(http)
        stop = asyncio.Event()
        crowd = [asyncio.create_task(players.play(stop)) for _ in range(3)]
        try:
            await until(lambda: _acknowledged(players, 3), timeout=30, what="first drawings")
            await _kill_and_wait_for_restart(site, http, "redis")
            served = len(players.acknowledged)
            await until(lambda: _acknowledged(players, served + 3), timeout=30, what="drawings")
            await _kill_and_wait_for_restart(site, http, "worker")
            served = len(players.acknowledged)
            await until(lambda: _acknowledged(players, served + 3), timeout=30, what="drawings")
        finally:
            stop.set()
            await asyncio.gather(*crowd)

        restarts = restarts_check(site.data_dir)  # what `lookalike doctor` reports
        assert restarts.status == "info"
        assert "redis crashed 1x" in restarts.detail and "worker crashed 1x" in restarts.detail
        assert players.statuses == {200}, players.statuses
        assert set(players.codes) <= TYPED_WHILE_DOWN, players.codes
        for token, submission_id in players.acknowledged:
            await until(
                lambda: _scored(players, token, submission_id),  # noqa: B023 (awaited at once)
                timeout=90,
                what=f"{submission_id} to be scored",
            )


async def _acknowledged(players: Players, count: int) -> bool:
    return len(players.acknowledged) >= count

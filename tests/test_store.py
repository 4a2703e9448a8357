"""The store against a real Redis: dedup, tie order, idempotent results."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import redis.asyncio

from pipelines.contract import Job
from server.abuse import dedup
from server.abuse.captcha.base import ticket
from server.abuse.limits import Limit
from server.state import keys
from server.state.events import EventRecord
from server.state.part import NotFound
from server.state.participants import ParticipantRecord
from server.state.queue import QueueState
from server.state.store import Store
from server.state.submissions import (
    CALLER_ID,
    Banned,
    EventClosed,
    InFlight,
    NoCaller,
    QueueFull,
    RateLimited,
    SubmissionRecord,
    Submitted,
    TicketUsed,
)

pytestmark = pytest.mark.timeout(30)

Submit = Callable[[ParticipantRecord, str], Awaitable[SubmissionRecord]]


@pytest.fixture
async def store(aredis: redis.asyncio.Redis) -> Store:
    return Store(aredis)


@pytest.fixture
async def event(store: Store) -> EventRecord:
    return await store.event(await store.create_event("test", "0" * 32))


@pytest.fixture
def join(store: Store, event: EventRecord) -> Callable[[str], Awaitable[ParticipantRecord]]:
    async def make(nickname: str) -> ParticipantRecord:
        joined = await store.join(event.id, nickname, dedup.nickname_key(nickname))
        assert joined is not None
        return joined[0]

    return make


@pytest.fixture
def submit(store: Store, event: EventRecord) -> Submit:
    async def make(participant: ParticipantRecord, prompt: str) -> SubmissionRecord:
        return await store.submit(
            participant=participant,
            prompt=dedup.prepare(prompt, 300),
        )

    return make


async def test_join_rejects_taken_nickname_case_insensitively(
    store: Store, event: EventRecord
) -> None:
    first = await store.join(event.id, "Duck", dedup.nickname_key("Duck"))
    again = await store.join(event.id, "dUCK", dedup.nickname_key("dUCK"))
    assert first is not None and again is None
    record, token = first
    assert (await store.participant_for_token(token)) == record
    assert await store.participant_for_token(token + "x") is None


async def test_new_prompt_queues_one_job(
    aredis: redis.asyncio.Redis, join: Callable[[str], Awaitable[ParticipantRecord]], submit: Submit
) -> None:
    alice = await join("alice")
    record = await submit(alice, "A yellow duck")
    assert record.status == "QUEUED" and not record.deduplicated
    assert record.normalised == "a yellow duck"
    assert await aredis.xlen(keys.JOBS) == 1


async def test_simultaneous_identical_prompts_make_one_job(
    store: Store,
    aredis: redis.asyncio.Redis,
    join: Callable[[str], Awaitable[ParticipantRecord]],
    submit: Submit,
) -> None:
    players = [await join(f"p{i}") for i in range(10)]
    records = await asyncio.gather(*(submit(p, "a duck on a pond") for p in players))
    assert await aredis.xlen(keys.JOBS) == 1
    canonical = [r for r in records if not r.deduplicated]
    assert len(canonical) == 1
    assert {r.canonical_id for r in records} == {canonical[0].id}

    assert await store.start(canonical[0].id)
    followers = [r for r in records if r.deduplicated]
    statuses = {(await store.submission(r.id)).status for r in followers}
    assert statuses == {"GENERATING"}

    await store.complete(canonical[0].id, score=0.5, image_key="a" * 32, model_version="v")
    finished = [await store.submission(r.id) for r in records]
    assert {(r.status, r.score, r.image_key) for r in finished} == {("DONE", 0.5, "a" * 32)}
    board = await store.leaderboard(records[0].event_id, 20)
    # The prompt ranks for its first sender only; everyone else sent a copy.
    assert [(e.submission_id, e.rank) for e in board] == [(canonical[0].id, 1)]
    assert {r.copy for r in finished if r.id != canonical[0].id} == {True}


async def test_prompt_already_scored_returns_done_at_once(
    store: Store,
    aredis: redis.asyncio.Redis,
    join: Callable[[str], Awaitable[ParticipantRecord]],
    submit: Submit,
) -> None:
    alice, bob = await join("alice"), await join("bob")
    first = await submit(alice, "A duck!")
    await store.complete(first.id, score=0.7, image_key="b" * 32, model_version="v")
    again = await submit(bob, "  a   DUCK! ")
    assert again.status == "DONE" and again.deduplicated
    assert (again.score, again.image_key) == (0.7, "b" * 32)
    assert await aredis.xlen(keys.JOBS) == 1
    assert again.copy and not first.copy
    board = await store.leaderboard(first.event_id, 10)
    assert [(e.nickname, e.rank) for e in board] == [("alice", 1)]


async def test_recording_a_result_twice_changes_nothing(
    store: Store,
    aredis: redis.asyncio.Redis,
    join: Callable[[str], Awaitable[ParticipantRecord]],
    submit: Submit,
) -> None:
    alice = await join("alice")
    record = await submit(alice, "a swan")
    assert await store.complete(record.id, score=0.4, image_key="c" * 32, model_version="v")
    before = await store.submission(record.id)
    counts_before = await store.counts(record.event_id)
    assert not await store.complete(record.id, score=0.9, image_key="d" * 32, model_version="w")
    assert await store.submission(record.id) == before
    assert await store.counts(record.event_id) == counts_before
    assert (await store.leaderboard(record.event_id, 1))[0].score == 0.4


async def test_best_score_only_improves_and_ties_keep_the_earlier(
    store: Store, join: Callable[[str], Awaitable[ParticipantRecord]], submit: Submit
) -> None:
    alice, bob = await join("alice"), await join("bob")
    a1 = await submit(alice, "one")
    b1 = await submit(bob, "two")
    await store.complete(b1.id, score=0.6, image_key="e" * 32, model_version="v")
    await store.complete(a1.id, score=0.6, image_key="f" * 32, model_version="v")
    a2 = await submit(alice, "three")
    await store.complete(a2.id, score=0.3, image_key="0" * 32, model_version="v")
    board = await store.leaderboard(a1.event_id, 10)
    # Equal scores: alice's a1 was submitted before bob's b1, so alice ranks first.
    assert [(e.nickname, e.submission_id, e.score) for e in board] == [
        ("alice", a1.id, 0.6),
        ("bob", b1.id, 0.6),
    ]
    assert await store.standing(a1.event_id, alice.id) == (0.6, 1)
    assert await store.standing(a1.event_id, bob.id) == (0.6, 2)
    full = 0.5910864472389221
    a3 = await submit(alice, "four")
    await store.complete(a3.id, score=full, image_key="1" * 32, model_version="v")
    assert await store.standing(a1.event_id, alice.id) == (0.6, 1)


async def test_failed_prompt_can_be_drawn_again(
    store: Store,
    aredis: redis.asyncio.Redis,
    join: Callable[[str], Awaitable[ParticipantRecord]],
    submit: Submit,
) -> None:
    alice, bob = await join("alice"), await join("bob")
    first = await submit(alice, "a cat")
    follower = await submit(bob, "a cat")
    assert await store.fail(first.id, "model error")
    assert (await store.submission(follower.id)).status == "FAILED"
    retry = await submit(bob, "a cat")
    assert retry.status == "QUEUED" and not retry.deduplicated
    assert await aredis.xlen(keys.JOBS) == 2


async def test_full_precision_scores_survive(
    store: Store, join: Callable[[str], Awaitable[ParticipantRecord]], submit: Submit
) -> None:
    alice = await join("alice")
    record = await submit(alice, "precise")
    await store.complete(record.id, score=0.5910864472389221, image_key="2" * 32, model_version="v")
    assert (await store.submission(record.id)).score == 0.5910864472389221
    assert (await store.leaderboard(record.event_id, 1))[0].score == 0.5910864472389221


async def test_one_submission_in_flight_per_participant(
    store: Store,
    aredis: redis.asyncio.Redis,
    join: Callable[[str], Awaitable[ParticipantRecord]],
    submit: Submit,
) -> None:
    alice = await join("alice")
    first = await submit(alice, "a duck")
    with pytest.raises(InFlight) as caught:
        await submit(alice, "a swan")
    assert caught.value.submission_id == first.id
    assert await aredis.xlen(keys.JOBS) == 1
    assert len(await store.participant_submissions(alice.id, 10)) == 1
    await store.complete(first.id, score=0.1, image_key="3" * 32, model_version="v")
    assert (await submit(alice, "a swan")).status == "QUEUED"


async def test_queue_positions_and_busy_refusal(
    store: Store,
    aredis: redis.asyncio.Redis,
    event: EventRecord,
    join: Callable[[str], Awaitable[ParticipantRecord]],
    submit: Submit,
) -> None:
    players = [await join(f"p{i}") for i in range(3)]
    records = [await submit(p, f"prompt {i}") for i, p in enumerate(players)]
    assert [r.seq for r in records] == [1, 2, 3]
    await store.start(records[0].id)
    state = await store.queue_state()
    assert (state.enqueued, state.started, state.depth) == (3, 1, 2)

    late = await join("late")
    with pytest.raises(QueueFull):
        await store.submit(
            participant=late,
            prompt=dedup.prepare("new", 300),
            max_depth=2,
        )
    assert await aredis.xlen(keys.JOBS) == 3
    # A prompt already in the queue costs no GPU time: never refused.
    follower = await store.submit(
        participant=late,
        prompt=dedup.prepare("prompt 2", 300),
        max_depth=2,
    )
    assert follower.deduplicated and follower.seq == 3


Enqueue = Callable[..., Awaitable[Submitted]]


@pytest.fixture
def enqueue(store: Store, event: EventRecord) -> Enqueue:
    """``submit_with_queue`` of a prompt, with any of its options."""

    async def make(participant: ParticipantRecord, prompt: str, **options: Any) -> Submitted:
        return await store.submit_with_queue(
            participant_id=participant.id,
            prompt=dedup.prepare(prompt, 300),
            **options,
        )

    return make


async def test_a_submission_answers_what_it_stored(
    store: Store,
    aredis: redis.asyncio.Redis,
    join: Callable[[str], Awaitable[ParticipantRecord]],
    enqueue: Enqueue,
) -> None:
    alice, bob, carol = await join("alice"), await join("bob"), await join("carol")
    # Quotes, backslashes, Korean, an emoji: the fields travel to the script as JSON.
    prompt = 'a "quoted" \\ duck 오리 \U0001f986 and \u00e9'
    queued = (await enqueue(alice, prompt)).record
    follower = (await enqueue(bob, prompt)).record
    assert queued == await store.submission(queued.id)
    assert follower == await store.submission(follower.id)
    assert (queued.status, queued.deduplicated, queued.seq) == ("QUEUED", False, 1)
    assert (follower.canonical_id, follower.deduplicated, follower.seq) == (queued.id, True, 1)
    assert queued.prompt == prompt and queued.normalised == dedup.normalise_prompt(prompt, 300)
    ((_, job),) = await aredis.xrange(keys.JOBS)
    assert Job.from_fields(job) == Job(
        submission_id=queued.id,
        event_id=queued.event_id,
        prompt=queued.normalised,
        seed=queued.seed,
        target_key=queued.target_key,
    )

    await store.complete(queued.id, score=0.25, image_key="9" * 32, model_version="v")
    done = (await enqueue(carol, prompt)).record
    assert done == await store.submission(done.id)
    assert (done.status, done.score, done.finished_at is not None) == ("DONE", 0.25, True)


async def test_a_held_event_marks_submissions_for_review(store: Store, enqueue: Enqueue) -> None:
    held = await store.event(await store.create_event("held", "0" * 32, hold_for_review=True))
    joined = await store.join(held.id, "alice", "alice")
    assert joined is not None
    record = (await enqueue(joined[0], "a duck")).record
    assert record.review == "PENDING"
    assert record == await store.submission(record.id)


async def test_a_submission_reports_the_queue_it_joined(
    store: Store,
    aredis: redis.asyncio.Redis,
    join: Callable[[str], Awaitable[ParticipantRecord]],
    enqueue: Enqueue,
) -> None:
    await aredis.hset(keys.QUEUE, "job_seconds", "0.5")
    await aredis.zadd(keys.WORKERS, {"fresh": time.time(), "stale": time.time() - 60})
    first = await enqueue(await join("alice"), "one", worker_stale_s=15.0)
    second = await enqueue(await join("bob"), "two", worker_stale_s=15.0)
    assert await store.start(first.record.id)
    follower = await enqueue(await join("carol"), "one", worker_stale_s=15.0)
    assert second.queue == QueueState(enqueued=2, started=0, job_seconds=0.5)
    assert second.workers == 1  # the stale heartbeat does not count
    assert follower.record.status == "GENERATING"
    assert (follower.queue, follower.workers) == (QueueState(2, 1, 0.5), 1)
    assert await store.queue_and_workers(15.0) == (QueueState(2, 1, 0.5), 1)


async def test_the_wait_bound_counts_live_workers_at_the_measured_speed(
    aredis: redis.asyncio.Redis,
    join: Callable[[str], Awaitable[ParticipantRecord]],
    enqueue: Enqueue,
) -> None:
    # 2 s of waiting at 0.5 s per job on two workers: 8 jobs fit.
    await aredis.hset(keys.QUEUE, "job_seconds", "0.5")
    await aredis.zadd(keys.WORKERS, {"w1": time.time(), "w2": time.time()})
    bounded = {"max_wait_s": 2.0, "worker_stale_s": 15.0}
    for i in range(8):
        await enqueue(await join(f"p{i}"), f"prompt {i}", **bounded)
    late = await join("late")
    with pytest.raises(QueueFull) as caught:
        await enqueue(late, "one more", **bounded)
    assert (caught.value.depth, caught.value.job_seconds, caught.value.workers) == (8, 0.5, 2)
    assert await aredis.xlen(keys.JOBS) == 8
    assert (await enqueue(late, "prompt 3", **bounded)).record.deduplicated


async def test_a_ban_refuses_the_next_submission_atomically(
    store: Store,
    aredis: redis.asyncio.Redis,
    join: Callable[[str], Awaitable[ParticipantRecord]],
    enqueue: Enqueue,
) -> None:
    alice = await join("alice")  # read before the ban: the script sees the flag itself
    await store.set_participant_flag(alice.id, "banned", "1")
    used = ticket("altcha:one", 60)
    limit = Limit(keys.rate("participant", alice.id), rate_per_s=1.0, burst=1)
    with pytest.raises(Banned):
        await enqueue(alice, "a duck", ticket=used, limits=[limit])
    assert await aredis.xlen(keys.JOBS) == 0
    assert await store.participant_submissions(alice.id, 10) == []
    assert not await aredis.exists(used.key, limit.key)  # nothing used up


async def test_a_captcha_ticket_admits_one_submission_only(
    store: Store,
    aredis: redis.asyncio.Redis,
    join: Callable[[str], Awaitable[ParticipantRecord]],
    enqueue: Enqueue,
) -> None:
    players = [await join(f"p{i}") for i in range(10)]
    used = ticket("altcha:shared", 60)
    results = await asyncio.gather(
        *(enqueue(p, f"prompt {i}", ticket=used) for i, p in enumerate(players)),
        return_exceptions=True,
    )
    assert sum(isinstance(r, Submitted) for r in results) == 1
    assert sum(isinstance(r, TicketUsed) for r in results) == 9
    assert await aredis.xlen(keys.JOBS) == 1
    assert 0 < await aredis.pttl(used.key) <= used.ttl_ms


async def test_rate_limits_are_taken_with_the_submission(
    store: Store,
    aredis: redis.asyncio.Redis,
    join: Callable[[str], Awaitable[ParticipantRecord]],
    enqueue: Enqueue,
) -> None:
    alice, bob = await join("alice"), await join("bob")
    address = Limit(keys.rate("ip", "198.51.100.7"), rate_per_s=0.01, burst=2)
    await enqueue(alice, "one", limits=[address])
    with pytest.raises(InFlight):  # refused, but counted, as a separate check would
        await enqueue(alice, "two", limits=[address])
    used = ticket("altcha:late", 60)
    with pytest.raises(RateLimited) as caught:
        await enqueue(bob, "three", limits=[address], ticket=used)
    assert 90 < caught.value.wait <= 100
    assert await store.participant_submissions(bob.id, 10) == []
    assert await aredis.xlen(keys.JOBS) == 1
    with pytest.raises(TicketUsed):  # the captcha was checked, and used, before the limit
        await enqueue(bob, "three", ticket=used)


async def test_the_caller_is_read_with_its_event(store: Store, event: EventRecord) -> None:
    joined = await store.join(event.id, "alice", "alice")
    assert joined is not None
    alice, token = joined
    assert await store.caller(token) == (alice, event)
    assert await store.caller(token + "x") is None
    await store.set_participant_flag(alice.id, "banned", "1")
    await store.set_event_status(event.id, "CLOSED")
    found = await store.caller(token)
    assert found is not None
    assert found[0].banned and found[1] is not None and found[1].status == "CLOSED"


@pytest.fixture
async def session(store: Store, event: EventRecord) -> tuple[ParticipantRecord, str]:
    """A player who joined, and her session token."""
    joined = await store.join(event.id, "alice", "alice")
    assert joined is not None
    return joined


async def test_a_session_submits_as_its_participant_in_its_event(
    store: Store,
    aredis: redis.asyncio.Redis,
    event: EventRecord,
    session: tuple[ParticipantRecord, str],
) -> None:
    alice, token = session
    limit = Limit(keys.rate("participant", CALLER_ID), rate_per_s=1.0, burst=5)
    submitted = await store.submit_with_queue(
        session=token, prompt=dedup.prepare("a duck", 300), limits=[limit],
    )  # fmt: skip
    record = submitted.record
    assert (record.participant_id, record.nickname) == (alice.id, "alice")
    assert (record.event_id, record.target_key) == (event.id, event.target_key)
    assert record == await store.submission(record.id)
    assert await store.participant_submissions(alice.id, 10) == [record]
    ((_, fields),) = await aredis.xrange(keys.JOBS)
    job = Job.from_fields(fields)
    assert (job.event_id, job.target_key) == (event.id, event.target_key)
    # The caller's own limit key was counted, not one named after the slot.
    assert await aredis.exists(keys.rate("participant", alice.id))
    assert not await aredis.exists(limit.key)


async def test_the_submission_script_checks_the_caller_first(
    store: Store,
    aredis: redis.asyncio.Redis,
    event: EventRecord,
    session: tuple[ParticipantRecord, str],
) -> None:
    alice, token = session
    used = ticket("altcha:kept", 60)

    async def submit(session: str = token) -> Submitted:
        return await store.submit_with_queue(
            session=session, prompt=dedup.prepare("a duck", 300), ticket=used,
        )  # fmt: skip

    with pytest.raises(NoCaller):
        await submit(token + "x")
    await store.update_event(event.id, {"opens_at": repr(time.time() + 60)})
    with pytest.raises(EventClosed) as scheduled:
        await submit()
    assert scheduled.value.opens_at is not None and scheduled.value.opens_at > time.time()
    await store.update_event(event.id, {"opens_at": None, "closes_at": repr(time.time() - 1)})
    with pytest.raises(EventClosed) as closed:
        await submit()
    assert closed.value.opens_at is None
    await store.set_participant_flag(alice.id, "banned", "1")
    with pytest.raises(Banned):  # a ban is said before the closed event
        await submit()
    await aredis.delete(keys.event(event.id))
    with pytest.raises(NotFound):
        await submit()
    # None of these refusals wrote anything or used the captcha up.
    assert await aredis.xlen(keys.JOBS) == 0
    assert await store.participant_submissions(alice.id, 10) == []
    assert not await aredis.exists(used.key)


async def test_a_submission_needs_exactly_one_caller(store: Store) -> None:
    with pytest.raises(TypeError):
        await store.submit_with_queue(
            prompt=dedup.prepare("a", 300)
        )


async def test_a_batch_starts_in_one_go_with_followers_and_only_once(
    store: Store,
    aredis: redis.asyncio.Redis,
    join: Callable[[str], Awaitable[ParticipantRecord]],
    submit: Submit,
) -> None:
    players = [await join(f"p{i}") for i in range(4)]
    first, second = await submit(players[0], "a duck"), await submit(players[1], "a swan")
    follower = await submit(players[2], "a duck")
    assert follower.deduplicated and follower.canonical_id == first.id
    await aredis.script_flush()  # a restarted Redis: the batch loads the script again

    started = await store.start_many([first.id, second.id, "no-such-id"])
    assert started == [True, True, False]
    statuses = [(await store.submission(r.id)).status for r in (first, second, follower)]
    assert statuses == ["GENERATING"] * 3
    assert (await store.queue_state()).started == 2
    assert await store.start_many([first.id, second.id]) == [False, False]  # not twice
    assert (await store.queue_state()).started == 2
    assert await store.start_many([]) == []


async def test_an_event_is_read_frozen_by_the_board_reads_rule(
    store: Store,
    aredis: redis.asyncio.Redis,
    event: EventRecord,
    session: tuple[ParticipantRecord, str],
) -> None:
    """Whether the public board is frozen: the event, its caller's event, its counters and
    the board read answer alike, all by server/state/lua/frozen.lua."""
    participant, token = session
    assert not event.frozen
    for at, frozen in [(time.time() + 60, False), (time.time() - 1, True), (None, False)]:
        # The freeze time alone, unbuilt: the public board read builds it once it is due.
        frozen_at = None if at is None else repr(at)
        await store.update_event(event.id, {"frozen_at": frozen_at, "frozen_built": None})
        assert await store.leaderboard(event.id, 10) == []
        assert await store.standing(event.id, participant.id) is None
        built = await aredis.hget(keys.event(event.id), "frozen_built")
        assert (built == "1") is frozen
        found = await store.caller(token)
        assert found is not None and found[1] is not None
        assert (await store.event(event.id)).frozen is found[1].frozen is frozen
        assert [e.frozen for e in await store.events()] == [frozen]
        assert (await store.counts(event.id)).frozen is frozen


async def test_an_event_is_read_with_its_phase_by_the_submission_scripts_rule(
    store: Store, event: EventRecord, session: tuple[ParticipantRecord, str]
) -> None:
    _, token = session
    assert event.phase == "OPEN"
    soon, past = repr(time.time() + 60), repr(time.time() - 1)
    steps: list[tuple[dict[str, str | None], str]] = [
        ({"opens_at": soon}, "SCHEDULED"),
        ({"opens_at": None, "closes_at": past}, "CLOSED"),
        ({"closes_at": soon, "status": "CLOSED"}, "CLOSED"),  # closed by hand, before time
        ({"status": "OPEN"}, "OPEN"),
    ]
    for changes, phase in steps:
        await store.update_event(event.id, changes)
        found = await store.caller(token)
        assert found is not None and found[1] is not None
        assert (await store.event(event.id)).phase == found[1].phase == phase
        assert [e.phase for e in await store.events()] == [phase]
        if phase != "OPEN":
            with pytest.raises(EventClosed):
                await store.submit_with_queue(session=token, prompt=dedup.prepare("a", 300))

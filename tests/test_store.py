"""The store against a real Redis: dedup, tie order, idempotent results."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
import redis.asyncio

from pipelines.seeds import seed_for
from server import dedup, keys
from server.store import (
    EventRecord,
    InFlight,
    ParticipantRecord,
    QueueFull,
    Store,
    SubmissionRecord,
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
        normalised = dedup.normalise_prompt(prompt, 300)
        return await store.submit(
            event=event,
            participant=participant,
            prompt=prompt,
            normalised=normalised,
            prompt_key=dedup.prompt_key(normalised),
            seed=seed_for(normalised),
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
    # Everyone reached 0.5; ties go to whoever submitted first (time-ordered ids).
    assert [e.submission_id for e in board] == sorted(r.id for r in records)
    assert [e.rank for e in board] == list(range(1, 11))


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
    board = await store.leaderboard(first.event_id, 10)
    assert [(e.nickname, e.rank) for e in board] == [("alice", 1), ("bob", 2)]


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
            event=event,
            participant=late,
            prompt="new",
            normalised="new",
            prompt_key=dedup.prompt_key("new"),
            seed=1,
            max_depth=2,
        )
    assert await aredis.xlen(keys.JOBS) == 3
    # A prompt already in the queue costs no GPU time: never refused.
    follower = await store.submit(
        event=event,
        participant=late,
        prompt="prompt 2",
        normalised="prompt 2",
        prompt_key=dedup.prompt_key("prompt 2"),
        seed=1,
        max_depth=2,
    )
    assert follower.deduplicated and follower.seq == 3

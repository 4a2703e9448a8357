"""The worker against a real Redis with tiny models: batching, reclaiming, idempotency."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
import redis.asyncio

from pipelines.messages import Failure
from pipelines.worker import Worker, ensure_group
from server.settings import Settings
from server.state import keys
from server.state.events import EventRecord
from server.state.pictures import ImageStore
from server.state.store import Store
from server.state.submissions import SubmissionRecord
from tests.seeding import queue_prompt

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(job_claim_idle_ms=50, batch_size=4)


@pytest.fixture
async def event(aredis: redis.asyncio.Redis, settings: Settings) -> EventRecord:
    from server.organiser.demo import target_webp

    store = Store(aredis)
    target = ImageStore(settings.images_dir).put(target_webp(64))
    return await store.event(await store.create_event("test", target))


async def submit_many(
    aredis: redis.asyncio.Redis, event: EventRecord, n: int
) -> list[SubmissionRecord]:
    store = Store(aredis)
    return [await queue_prompt(store, event, f"p{i}", f"prompt number {i}") for i in range(n)]


async def run_until_done(worker: Worker, store: Store, ids: list[str]) -> list[SubmissionRecord]:
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        async with asyncio.timeout(60):
            pubsub = store.redis.pubsub()
            await pubsub.subscribe(*(keys.submission_channel(i) for i in ids))
            while True:
                records = await store.submissions(ids)
                if all(r.status in ("DONE", "FAILED") for r in records):
                    await pubsub.aclose()
                    return records
                await pubsub.get_message(timeout=1.0)
    finally:
        stop.set()
        await task


async def test_jobs_are_drawn_in_batches_and_scored(
    aredis: redis.asyncio.Redis, settings: Settings, event: EventRecord
) -> None:
    records = await submit_many(aredis, event, 6)
    worker = await asyncio.to_thread(Worker.load, settings, aredis)
    done = await run_until_done(worker, Store(aredis), [r.id for r in records])
    assert all(r.status == "DONE" and r.score is not None and 0 <= r.score <= 1 for r in done)
    assert all(ImageStore(settings.images_dir).exists(r.image_key or "") for r in done)
    assert await aredis.xlen(keys.JOBS) == 0  # acknowledged and deleted
    assert len({r.image_key for r in done}) == 6


async def test_a_dead_workers_job_is_finished_by_another(
    aredis: redis.asyncio.Redis, settings: Settings, event: EventRecord
) -> None:
    (record,) = await submit_many(aredis, event, 1)
    await ensure_group(aredis)
    # A worker takes the job, marks it GENERATING, and dies before recording a result:
    # the job stays pending under its name.
    taken = await aredis.xreadgroup(keys.JOBS_GROUP, "dead-worker", {keys.JOBS: ">"}, count=1)
    assert taken and taken[0][1][0][1]["submission_id"] == record.id
    await Store(aredis).start(record.id)
    pending = await aredis.xpending(keys.JOBS, keys.JOBS_GROUP)
    assert pending["pending"] == 1

    worker = await asyncio.to_thread(Worker.load, settings, aredis)
    (done,) = await run_until_done(worker, Store(aredis), [record.id])
    assert done.status == "DONE" and done.score is not None
    assert (await aredis.xpending(keys.JOBS, keys.JOBS_GROUP))["pending"] == 0


async def test_a_job_run_twice_changes_nothing(
    aredis: redis.asyncio.Redis, settings: Settings, event: EventRecord
) -> None:
    (record,) = await submit_many(aredis, event, 1)
    worker = await asyncio.to_thread(Worker.load, settings, aredis)
    (done,) = await run_until_done(worker, Store(aredis), [record.id])
    counts = await Store(aredis).counts(event.id)
    # The same job again, as if a slow worker finished after its job was reclaimed.
    assert done.normalised == "prompt number 0"
    from pipelines.messages import Job

    job = Job(record.id, event.id, done.normalised, done.seed, event.target_key)
    await aredis.xadd(keys.JOBS, job.to_fields())
    taken = await worker.take()
    assert [t.job for t in taken] == [job]
    await worker.publish(taken, await asyncio.to_thread(worker.run_batch, taken))
    assert await aredis.xlen(keys.JOBS) == 0
    assert await Store(aredis).submission(record.id) == done
    assert await Store(aredis).counts(event.id) == counts


async def test_same_prompt_and_seed_draw_the_same_picture(
    aredis: redis.asyncio.Redis, settings: Settings, event: EventRecord
) -> None:
    worker = await asyncio.to_thread(Worker.load, settings, aredis)
    from pipelines.messages import Job

    job = Job("x", event.id, "a duck", 1234, event.target_key)
    first = await asyncio.to_thread(worker._draw_and_score, [job])
    second = await asyncio.to_thread(
        worker._draw_and_score, [job, Job("y", event.id, "a swan", 1, event.target_key)]
    )
    assert first[0].image_key == second[0].image_key
    assert first[0].score == pytest.approx(second[0].score, abs=1e-5)


async def test_a_picture_that_cannot_be_stored_fails_its_job_not_the_worker(
    aredis: redis.asyncio.Redis,
    settings: Settings,
    event: EventRecord,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (record,) = await submit_many(aredis, event, 1)
    await ensure_group(aredis)
    worker = await asyncio.to_thread(Worker.load, settings, aredis)
    taken = await worker.take()

    def full_disk(data: bytes) -> str:
        raise OSError("No space left on device")

    monkeypatch.setattr(worker.images, "put", full_disk)
    (outcome,) = await asyncio.to_thread(worker.run_batch, taken)
    assert outcome == Failure(record.id, "OSError: No space left on device")

"""The worker against a real Redis with tiny models, and a server's results consumer
applying what it writes: batching, reclaiming, acknowledging, idempotency."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
import redis.asyncio

from pipelines.contract import Failure, Job, Result
from pipelines.settings import Settings as WorkerSettings
from pipelines.worker import Taken, Worker, ensure_jobs_group
from server.settings import Settings
from server.state import keys
from server.state.connection import async_client
from server.state.events import EventRecord
from server.state.pictures import ImageStore, put_target
from server.state.results import ResultsConsumer
from server.state.store import Store
from server.state.submissions import SubmissionRecord
from tests.seeding import queue_prompt

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def settings(make_worker_settings: Callable[..., WorkerSettings]) -> WorkerSettings:
    return make_worker_settings(job_claim_idle_ms=50, batch_size=4)


@pytest.fixture
def images(make_settings: Callable[..., Settings]) -> ImageStore:
    return ImageStore(make_settings().images_dir)


@pytest.fixture
async def event(aredis: redis.asyncio.Redis, images: ImageStore) -> EventRecord:
    from server.organiser.demo import target_webp

    store = Store(aredis)
    target = await put_target(images, aredis, target_webp(64))
    return await store.event(await store.create_event("test", target))


@pytest.fixture
async def make_consumer(
    redis_url: str, aredis: redis.asyncio.Redis, images: ImageStore
) -> AsyncIterator[Callable[..., ResultsConsumer]]:
    """Factory: a server's results consumer (its own bytes-mode client)."""
    clients: list[redis.asyncio.Redis] = []

    def make(
        name: str = "server-a", claim_idle_ms: int = 30_000, batch: int = 64
    ) -> ResultsConsumer:
        client = async_client(redis_url, decode=False)
        clients.append(client)
        return ResultsConsumer(
            client, Store(aredis), images, claim_idle_ms=claim_idle_ms, name=name, batch=batch
        )

    yield make
    for client in clients:
        await client.aclose()


async def submit_many(
    aredis: redis.asyncio.Redis, event: EventRecord, n: int
) -> list[SubmissionRecord]:
    store = Store(aredis)
    return [await queue_prompt(store, event, f"p{i}", f"prompt number {i}") for i in range(n)]


async def run_until_done(
    worker: Worker, consumer: ResultsConsumer, ids: list[str]
) -> list[SubmissionRecord]:
    """Run the worker and the results consumer until every submission is finished."""
    stop = asyncio.Event()
    store = consumer.store
    task = asyncio.create_task(worker.run(stop))
    applying = asyncio.create_task(consumer.run(stop))
    try:
        async with asyncio.timeout(60):
            pubsub = store.redis.pubsub()
            await pubsub.subscribe(*(keys.submission_channel(i) for i in ids))
            while True:
                for loop in (task, applying):
                    if loop.done():
                        loop.result()  # raises what stopped it
                        raise AssertionError(f"{loop.get_name()} ended early")
                records = await store.submissions(ids)
                if all(r.status in ("DONE", "FAILED") for r in records):
                    await pubsub.aclose()
                    return records
                await pubsub.get_message(timeout=1.0)
    finally:
        stop.set()
        await task
        await applying


async def test_jobs_are_drawn_in_batches_and_scored(
    aredis: redis.asyncio.Redis,
    settings: WorkerSettings,
    event: EventRecord,
    images: ImageStore,
    make_consumer: Callable[..., ResultsConsumer],
) -> None:
    records = await submit_many(aredis, event, 6)
    worker = await asyncio.to_thread(Worker.load, settings, aredis)
    done = await run_until_done(worker, make_consumer(), [r.id for r in records])
    assert all(r.status == "DONE" and r.score is not None and 0 <= r.score <= 1 for r in done)
    assert all(images.exists(r.image_key or "") for r in done)
    assert await aredis.xlen(keys.JOBS) == 0  # acknowledged and deleted
    assert len({r.image_key for r in done}) == 6
    assert {r.model_version for r in done} == {worker.version}


async def test_a_dead_workers_job_is_finished_by_another(
    aredis: redis.asyncio.Redis,
    settings: WorkerSettings,
    event: EventRecord,
    make_consumer: Callable[..., ResultsConsumer],
) -> None:
    (record,) = await submit_many(aredis, event, 1)
    await ensure_jobs_group(aredis)
    # A worker takes the job, marks it GENERATING, and dies before writing a result:
    # the job stays pending under its name.
    taken = await aredis.xreadgroup(keys.JOBS_GROUP, "dead-worker", {keys.JOBS: ">"}, count=1)
    assert taken and taken[0][1][0][1]["submission_id"] == record.id
    await Store(aredis).start(record.id)
    pending = await aredis.xpending(keys.JOBS, keys.JOBS_GROUP)
    assert pending["pending"] == 1

    worker = await asyncio.to_thread(Worker.load, settings, aredis)
    (done,) = await run_until_done(worker, make_consumer(), [record.id])
    assert done.status == "DONE" and done.score is not None
    assert (await aredis.xpending(keys.JOBS, keys.JOBS_GROUP))["pending"] == 0


async def test_a_job_run_twice_changes_nothing(
    aredis: redis.asyncio.Redis,
    settings: WorkerSettings,
    event: EventRecord,
    make_consumer: Callable[..., ResultsConsumer],
) -> None:
    (record,) = await submit_many(aredis, event, 1)
    worker = await asyncio.to_thread(Worker.load, settings, aredis)
    consumer = make_consumer()
    (done,) = await run_until_done(worker, consumer, [record.id])
    while await consumer.turn(block_ms=None):  # results of jobs the worker reclaimed
        pass
    store = Store(aredis)
    assert await store.submission(record.id) == done
    counts, queue = await store.counts(event.id), await store.queue_state()
    # The same job again, as if a slow worker finished after its job was reclaimed.
    assert done.normalised == "prompt number 0"
    job = Job(record.id, event.id, done.normalised, done.seed, event.target_key)
    await aredis.xadd(keys.JOBS, job.to_fields())
    taken = await worker.take()
    assert [t.job for t in taken] == [job]
    await worker.mark_started(taken)
    await worker.publish(taken, await worker.run_batch(taken))
    assert await aredis.xlen(keys.JOBS) == 0
    assert await consumer.turn(block_ms=None) == 2  # its Started and its Result
    assert await aredis.xlen(keys.RESULTS) == 0
    assert await store.submission(record.id) == done
    assert await store.counts(event.id) == counts
    assert await store.queue_state() == queue


async def test_a_result_applied_twice_changes_nothing(
    aredis: redis.asyncio.Redis,
    settings: WorkerSettings,
    event: EventRecord,
    images: ImageStore,
    make_consumer: Callable[..., ResultsConsumer],
) -> None:
    records = await submit_many(aredis, event, 2)
    worker = await asyncio.to_thread(Worker.load, settings, aredis)
    await ensure_jobs_group(aredis)
    taken = await worker.take()
    await worker.mark_started(taken)
    await worker.publish(taken, await worker.run_batch(taken))
    consumer = make_consumer()
    await ensure_results_group(consumer)
    entries = await consumer.read(block_ms=None)
    assert len(entries) == 3  # one Started, two Results

    await consumer.apply(entries)
    store = Store(aredis)
    after_once = (
        await store.submissions([r.id for r in records]),
        await store.counts(event.id),
        await store.queue_state(),
        await store.leaderboard(event.id, None),
        sorted(p.name for p in images.root.iterdir()),
    )
    assert all(r.status == "DONE" for r in after_once[0])
    await consumer.apply(entries)  # a server that died before acknowledging, say
    after_twice = (
        await store.submissions([r.id for r in records]),
        await store.counts(event.id),
        await store.queue_state(),
        await store.leaderboard(event.id, None),
        sorted(p.name for p in images.root.iterdir()),
    )
    assert after_twice == after_once


async def test_a_job_is_not_acknowledged_before_its_result_is_written(
    aredis: redis.asyncio.Redis,
    settings: WorkerSettings,
    event: EventRecord,
) -> None:
    (record,) = await submit_many(aredis, event, 1)
    worker = await asyncio.to_thread(Worker.load, settings, aredis)
    await ensure_jobs_group(aredis)
    taken = await worker.take()
    outcomes = await worker.run_batch(taken)
    assert isinstance(outcomes[0], Result) and outcomes[0].submission_id == record.id
    await aredis.set(keys.RESULTS, "not a stream")  # every XADD to it now fails
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        await worker.publish(taken, outcomes)
    pending = await aredis.xpending(keys.JOBS, keys.JOBS_GROUP)
    assert pending["pending"] == 1  # still the worker's: claimed again if it dies
    assert await aredis.xlen(keys.JOBS) == 1

    await aredis.delete(keys.RESULTS)
    await worker.publish(taken, outcomes)
    assert (await aredis.xpending(keys.JOBS, keys.JOBS_GROUP))["pending"] == 0
    assert await aredis.xlen(keys.RESULTS) == 1


async def test_two_servers_share_the_results_and_a_dead_ones_are_claimed(
    aredis: redis.asyncio.Redis,
    settings: WorkerSettings,
    event: EventRecord,
    make_consumer: Callable[..., ResultsConsumer],
) -> None:
    records = await submit_many(aredis, event, 4)
    worker = await asyncio.to_thread(Worker.load, settings, aredis)
    await ensure_jobs_group(aredis)
    taken = await worker.take()
    await worker.publish(taken, await worker.run_batch(taken))
    a, b, dead = (make_consumer(name, claim_idle_ms=0, batch=1) for name in ("a", "b", "dead"))
    await ensure_results_group(a)
    # A dead server took the first result and never acknowledged it.
    assert len(await dead.read(block_ms=None)) == 1
    taken_by = [await a.turn(block_ms=None), await b.turn(block_ms=None)]
    while await a.turn(block_ms=None) + await b.turn(block_ms=None):
        pass
    assert taken_by == [1, 1]
    assert a.applied > 0 and b.applied > 0 and a.applied + b.applied == 4
    finished = await Store(aredis).submissions([r.id for r in records])
    assert all(r.status == "DONE" for r in finished)
    assert (await aredis.xpending(keys.RESULTS, keys.RESULTS_GROUP))["pending"] == 0
    assert await aredis.xlen(keys.RESULTS) == 0


async def ensure_results_group(consumer: ResultsConsumer) -> None:
    from pipelines.connection import ensure_group

    await ensure_group(consumer.redis, keys.RESULTS, keys.RESULTS_GROUP)


async def test_same_prompt_and_seed_draw_the_same_picture(
    aredis: redis.asyncio.Redis, settings: WorkerSettings, event: EventRecord
) -> None:
    worker = await asyncio.to_thread(Worker.load, settings, aredis)
    job = Job("x", event.id, "a duck", 1234, event.target_key)
    other = Job("y", event.id, "a swan", 1, event.target_key)
    (first,) = await worker.run_batch([Taken("1-0", job)])
    second, _ = await worker.run_batch([Taken("2-0", job), Taken("3-0", other)])
    assert isinstance(first, Result) and isinstance(second, Result)
    assert first.picture_key == second.picture_key
    assert first.score == pytest.approx(second.score, abs=1e-5)


async def test_a_picture_that_cannot_be_encoded_fails_its_job_not_the_worker(
    aredis: redis.asyncio.Redis,
    settings: WorkerSettings,
    event: EventRecord,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (record,) = await submit_many(aredis, event, 1)
    await ensure_jobs_group(aredis)
    worker = await asyncio.to_thread(Worker.load, settings, aredis)
    taken = await worker.take()

    def broken_encoder(picture: object) -> bytes:
        raise OSError("No space left on device")

    monkeypatch.setattr("pipelines.worker.encode_webp", broken_encoder)
    (outcome,) = await worker.run_batch(taken)
    assert outcome == Failure(record.id, "OSError: No space left on device")


async def test_a_job_whose_target_is_not_in_redis_fails(
    aredis: redis.asyncio.Redis, settings: WorkerSettings, event: EventRecord
) -> None:
    worker = await asyncio.to_thread(Worker.load, settings, aredis)
    job = Job("z", event.id, "a duck", 1, "0" * 32)
    (outcome,) = await worker.run_batch([Taken("1-0", job)])
    assert outcome == Failure("z", f"the target picture {'0' * 32} is not in Redis")

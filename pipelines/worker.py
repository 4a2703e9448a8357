"""The GPU worker: takes jobs from the Redis stream, draws and scores them in batches,
and records the results.

Several workers share the stream through one consumer group. A job is acknowledged
only after its result is recorded; a job left pending by a dead worker is claimed
(XAUTOCLAIM) by another after ``job_claim_idle_ms``. Recording is idempotent, so a job
run twice changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass

import redis.asyncio
import torch

from pipelines.generator import Generator, seed_for
from pipelines.images import encode_webp, load_image
from pipelines.messages import Failure, Job, MessageError, Result
from pipelines.models import model_settings
from pipelines.scorer import Scorer
from server import keys
from server.connection import RETRY_ON
from server.images import ImageStore
from server.metrics import METRICS
from server.settings import Settings
from server.store import Store, ensure_group

log = logging.getLogger(__name__)

MAX_DELIVERIES = 3  # a job that killed this many workers is failed, not retried forever

__all__ = ["Taken", "Worker", "ensure_group", "seed_for"]


@dataclass(frozen=True)
class Taken:
    """A stream entry taken by this worker: its id and the job (None if unreadable)."""

    entry_id: str
    job: Job | None
    deliveries: int = 1


class Worker:
    """Runs jobs until ``stop`` is set. Use :meth:`load` to build one from settings."""

    def __init__(
        self,
        settings: Settings,
        client: redis.asyncio.Redis,
        generator: Generator,
        scorer: Scorer,
        *,
        name: str | None = None,
    ) -> None:
        self.settings = settings
        self.redis = client
        self.store = Store(client)
        self.images = ImageStore(settings.images_dir)
        self.generator = generator
        self.scorer = scorer
        self.name = name or f"{socket.gethostname()}-{os.getpid()}"
        self.version = f"{generator.version} | {scorer.version}"
        self._targets: dict[str, torch.Tensor] = {}
        self.jobs_done = 0
        self.ready = asyncio.Event()  # set once the first heartbeat is recorded

    @classmethod
    def load(cls, settings: Settings, client: redis.asyncio.Redis) -> Worker:
        """Load both models (building tiny ones first in tiny mode) and warm them up."""
        resolved = model_settings(settings)
        generator = Generator.load(resolved)
        scorer = Scorer.load(resolved)
        worker = cls(resolved, client, generator, scorer)
        worker.warm_up()
        return worker

    def warm_up(self) -> None:
        """One full-size batch before the worker reports ready: first calls are slow."""
        images = self.generator(["warm-up"], [0])
        self.scorer.embed_images(images)

    async def run(self, stop: asyncio.Event) -> None:
        """Take, run and publish batches until ``stop`` is set; outlive Redis outages."""
        await ensure_group(self.redis)
        heartbeat = asyncio.create_task(self._heartbeat(stop))
        backoff = 0.0  # > 0 while Redis is unreachable
        try:
            while not stop.is_set():
                METRICS.heartbeat()
                try:
                    await self._turn()
                except RETRY_ON as exc:
                    # The client's own retries gave up. Jobs taken in this turn stay
                    # pending under our name: whoever takes next, this worker too,
                    # reclaims them after job_claim_idle_ms.
                    if not backoff:
                        log.warning("redis unavailable (%s); retrying until it is back", exc)
                    backoff = min(backoff * 2 or 0.1, 5.0)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), backoff)
                    continue
                except redis.ResponseError as exc:
                    if "NOGROUP" not in str(exc):
                        raise
                    log.warning("the job stream lost its consumer group (Redis lost its data?)")
                    await ensure_group(self.redis)
                if backoff:
                    log.info("redis reachable again")
                    backoff = 0.0
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            with contextlib.suppress(redis.RedisError):
                await self.redis.zrem(keys.WORKERS, self.name)

    async def _turn(self) -> None:
        taken = await self.take()
        if taken:
            await self.mark_started(taken)
            began = time.time()
            results = await asyncio.to_thread(self.run_batch, taken)
            finished = time.time()
            await self.store.record_job_seconds((finished - began) / len(taken))
            await self.publish(taken, results)
            METRICS.observe_batch(
                [t.entry_id for t in taken],
                started=began,
                finished=finished,
                failed=sum(isinstance(r, Failure) for r in results),
            )

    # ------------------------------------------------------------------ take
    async def take(self) -> list[Taken]:
        """Stale jobs of dead workers first, then new ones; up to one batch."""
        size = self.settings.batch_size
        taken = await self._claim_stale(size)
        if len(taken) < size:
            block = 1000 if not taken else None
            taken += await self._read(size - len(taken), block)
        if taken and len(taken) < size and self.settings.batch_wait_ms > 0:
            # Jobs arrive in bursts: a short wait fills the batch at little latency cost.
            taken += await self._read(size - len(taken), self.settings.batch_wait_ms)
        return taken

    async def _read(self, count: int, block: int | None) -> list[Taken]:
        reply = await self.redis.xreadgroup(
            keys.JOBS_GROUP, self.name, {keys.JOBS: ">"}, count=count, block=block
        )
        entries = reply[0][1] if reply else []
        return [self._parse(entry_id, data) for entry_id, data in entries]

    async def _claim_stale(self, count: int) -> list[Taken]:
        reply = await self.redis.xautoclaim(
            keys.JOBS,
            keys.JOBS_GROUP,
            self.name,
            min_idle_time=self.settings.job_claim_idle_ms,
            start_id="0-0",
            count=count,
        )
        entries = [(entry_id, data) for entry_id, data in reply[1] if data]
        if not entries:
            return []
        pending = await self.redis.xpending_range(
            keys.JOBS, keys.JOBS_GROUP, min=entries[0][0], max=entries[-1][0], count=count
        )
        deliveries = {row["message_id"]: int(row["times_delivered"]) for row in pending}
        log.warning("claimed %d job(s) left by a stopped worker", len(entries))
        return [
            self._parse(entry_id, data, deliveries.get(entry_id, 1))
            for entry_id, data in entries
        ]

    @staticmethod
    def _parse(entry_id: str, data: dict[str, str], deliveries: int = 1) -> Taken:
        try:
            return Taken(entry_id, Job.from_fields(data), deliveries)
        except MessageError:
            log.exception("dropping unreadable stream entry %s", entry_id)
            return Taken(entry_id, None, deliveries)

    async def mark_started(self, taken: Sequence[Taken]) -> None:
        for t in taken:
            if t.job is not None:
                await self.store.start(t.job.submission_id)

    # ------------------------------------------------------------------- run
    def run_batch(self, taken: Sequence[Taken]) -> list[Result | Failure]:
        """Draw and score a batch (blocking; runs in a thread). One result per entry."""
        jobs = [t.job for t in taken if t.job is not None and t.deliveries <= MAX_DELIVERIES]
        try:
            done: dict[str, Result | Failure] = {
                r.submission_id: r for r in self._draw_and_score(jobs)
            }
        except Exception:
            # One bad job must not fail its batch-mates: retry them one by one.
            log.exception("batch of %d failed; retrying one at a time", len(jobs))
            done = {}
            for job in jobs:
                done[job.submission_id] = self._draw_one_safely(job)
        return [self._outcome(t, done) for t in taken]

    def _outcome(self, taken: Taken, done: dict[str, Result | Failure]) -> Result | Failure:
        if taken.job is None:
            return Failure(submission_id="", reason="unreadable job")
        if taken.job.submission_id in done:
            return done[taken.job.submission_id]
        return Failure(taken.job.submission_id, f"gave up after {taken.deliveries} attempts")

    def _draw_one_safely(self, job: Job) -> Result | Failure:
        try:
            return self._draw_and_score([job])[0]
        except Exception as exc:
            log.exception("job %s failed", job.submission_id)
            return Failure(job.submission_id, f"{type(exc).__name__}: {exc}")

    def _draw_and_score(self, jobs: Sequence[Job]) -> list[Result]:
        if not jobs:
            return []
        # 1. Draw every prompt of the batch in one pipeline call.
        images = self.generator([j.prompt for j in jobs], [j.seed for j in jobs])
        # 2. Score the drawings on the device, against each job's cached target embedding.
        embeddings = self.scorer.embed_images(images)
        targets = torch.stack([self._target(j.target_key) for j in jobs]).to(embeddings)
        scores = (embeddings * targets).sum(dim=-1).clamp(0.0, 1.0).tolist()
        # 3. Store the drawings as WebP, content-addressed.
        keys_ = [self.images.put(encode_webp(image)) for image in images.float().cpu()]
        return [
            Result(job.submission_id, key, float(score), self.version)
            for job, key, score in zip(jobs, keys_, scores, strict=True)
        ]

    def _target(self, target_key: str) -> torch.Tensor:
        if target_key not in self._targets:
            picture = load_image(self.images.path(target_key))
            self._targets[target_key] = self.scorer.embed_pil(picture).float()
        return self._targets[target_key]

    # --------------------------------------------------------------- publish
    async def publish(self, taken: Sequence[Taken], results: Sequence[Result | Failure]) -> None:
        """Record each outcome (idempotently), then acknowledge and delete the entries."""
        for outcome in results:
            if isinstance(outcome, Result):
                await self.store.complete(
                    outcome.submission_id,
                    score=outcome.score,
                    image_key=outcome.image_key,
                    model_version=outcome.model_version,
                )
                self.jobs_done += 1
            elif outcome.submission_id:
                await self.store.fail(outcome.submission_id, outcome.reason)
        entry_ids = [t.entry_id for t in taken]
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xack(keys.JOBS, keys.JOBS_GROUP, *entry_ids)
            pipe.xdel(keys.JOBS, *entry_ids)
            await pipe.execute()

    async def _heartbeat(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(redis.RedisError):
                await self.redis.zadd(keys.WORKERS, {self.name: time.time()})
                self.ready.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.settings.worker_heartbeat_s)

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
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import cast

import redis.asyncio
import torch

from pipelines.generator import Generator
from pipelines.images import encode_webp, load_image, to_uint8
from pipelines.messages import Failure, Job, MessageError, Result
from pipelines.models import model_settings
from pipelines.scorer import Scorer
from server.metrics import METRICS
from server.settings import Settings
from server.state import keys
from server.state.connection import RETRY_ON
from server.state.pictures import ImageStore
from server.state.queue import ensure_group
from server.state.store import Store

log = logging.getLogger(__name__)

MAX_DELIVERIES = 3  # a job that killed this many workers is failed, not retried forever

__all__ = ["Drawing", "Taken", "Worker", "ensure_group"]


@dataclass(frozen=True)
class Taken:
    """A stream entry taken by this worker: its id and the job (None if unreadable)."""

    entry_id: str
    job: Job | None
    deliveries: int = 1


@dataclass(frozen=True)
class Drawing:
    """A drawn and scored picture on its way from the GPU to the image store."""

    picture: torch.Tensor  # (3, H, W) uint8, on the CPU
    score: float


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
        self.seconds_per_drawing = 0.0  # measured by warm_up
        self.ready = asyncio.Event()  # set once the first heartbeat is recorded
        # The previous batch being encoded and published while the GPU draws the next.
        self._finishing: asyncio.Task[None] | None = None

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
        """Run every batch shape once before the worker reports ready: first calls are
        slow, and compiled models compile (and capture CUDA graphs) on first use. Then
        time one full batch: :attr:`seconds_per_drawing` on this machine, logged."""
        for size in self.generator.warm_up_sizes(self.settings.batch_size):
            self._warm_batch(size)
        size = self.settings.batch_size
        started = time.perf_counter()
        self._warm_batch(size)
        self.seconds_per_drawing = (time.perf_counter() - started) / size
        log.info(
            "warm: %.3f s per drawing (batches of %d): %.0f drawings a minute",
            self.seconds_per_drawing,
            size,
            60 / self.seconds_per_drawing,
        )

    def _warm_batch(self, size: int) -> None:
        images = self.generator(["warm-up"] * size, list(range(size)))
        # To the CPU: waits for the device, so the timing counts the work, not its launch.
        self.scorer.embed_images(images).cpu()

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
            with contextlib.suppress(*RETRY_ON):
                await self._drain()  # the last batch's results go out before we stop
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            with contextlib.suppress(redis.RedisError):
                await self.redis.zrem(keys.WORKERS, self.name)

    async def _turn(self) -> None:
        """One batch through the GPU; its encoding and publishing overlap the next one."""
        taken = await self.take()
        if not taken:
            await self._drain()
            return
        await self.mark_started(taken)
        began = time.time()
        drawn = await asyncio.to_thread(self.draw_batch, taken)
        drew = time.time()
        # Results go out in order, and a failed publish surfaces here, in the next turn.
        await self._drain()
        self._finishing = asyncio.create_task(self._finish(taken, drawn, began, drew))

    async def _finish(
        self,
        taken: Sequence[Taken],
        drawn: Mapping[str, Drawing | Failure],
        began: float,
        drew: float,
    ) -> None:
        results = await asyncio.to_thread(self.store_batch, taken, drawn)
        finished = time.time()
        # ETAs come from GPU time per job: encoding overlaps the next batch.
        await self.store.record_job_seconds((drew - began) / len(taken))
        await self.publish(taken, results)
        METRICS.observe_batch(
            [t.entry_id for t in taken],
            started=began,
            finished=finished,
            failed=sum(isinstance(r, Failure) for r in results),
        )

    async def _drain(self) -> None:
        """Wait for the batch being published; raise what publishing raised."""
        finishing, self._finishing = self._finishing, None
        if finishing is not None:
            await finishing

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
        await self.store.start_many([t.job.submission_id for t in taken if t.job is not None])

    # ------------------------------------------------------------------- run
    def run_batch(self, taken: Sequence[Taken]) -> list[Result | Failure]:
        """Draw, score and store a batch (blocking; runs in a thread). One result per entry."""
        return self.store_batch(taken, self.draw_batch(taken))

    def draw_batch(self, taken: Sequence[Taken]) -> dict[str, Drawing | Failure]:
        """The GPU half: draw and score the batch; pictures come back on the CPU."""
        jobs = [t.job for t in taken if t.job is not None and t.deliveries <= MAX_DELIVERIES]
        try:
            return dict(zip([j.submission_id for j in jobs], self._draw(jobs), strict=True))
        except Exception:
            # One bad job must not fail its batch-mates: retry them one by one.
            log.exception("batch of %d failed; retrying one at a time", len(jobs))
            return {job.submission_id: self._draw_one_safely(job) for job in jobs}

    def store_batch(
        self, taken: Sequence[Taken], drawn: Mapping[str, Drawing | Failure]
    ) -> list[Result | Failure]:
        """The CPU half: encode the pictures as WebP, in parallel, and store them."""
        done: dict[str, Result | Failure] = {
            sid: d for sid, d in drawn.items() if isinstance(d, Failure)
        }
        drawings = {sid: d for sid, d in drawn.items() if isinstance(d, Drawing)}
        try:
            done.update(self._store(drawings))
        except Exception as exc:  # a full disk, say: fail the jobs, keep the worker
            log.exception("storing %d pictures failed", len(drawings))
            done.update({sid: Failure(sid, f"{type(exc).__name__}: {exc}") for sid in drawings})
        return [self._outcome(t, done) for t in taken]

    def _outcome(self, taken: Taken, done: Mapping[str, Result | Failure]) -> Result | Failure:
        if taken.job is None:
            return Failure(submission_id="", reason="unreadable job")
        if taken.job.submission_id in done:
            return done[taken.job.submission_id]
        return Failure(taken.job.submission_id, f"gave up after {taken.deliveries} attempts")

    def _draw_one_safely(self, job: Job) -> Drawing | Failure:
        try:
            return self._draw([job])[0]
        except Exception as exc:
            log.exception("job %s failed", job.submission_id)
            return Failure(job.submission_id, f"{type(exc).__name__}: {exc}")

    def _draw_and_score(self, jobs: Sequence[Job]) -> list[Result]:
        """Draw, score and store ``jobs`` in one go (raises on any failure)."""
        ids = [j.submission_id for j in jobs]
        stored = self._store(dict(zip(ids, self._draw(jobs), strict=True)))
        return [cast(Result, stored[sid]) for sid in ids]

    def _draw(self, jobs: Sequence[Job]) -> list[Drawing]:
        if not jobs:
            return []
        # 1. Draw every prompt of the batch in one pipeline call.
        images = self.generator([j.prompt for j in jobs], [j.seed for j in jobs])
        # 2. Score the drawings on the device, against each job's cached target embedding.
        embeddings = self.scorer.embed_images(images)
        targets = torch.stack([self._target(j.target_key) for j in jobs]).to(embeddings)
        scores = (embeddings * targets).sum(dim=-1).clamp(0.0, 1.0).tolist()
        # 3. One copy of the whole batch to the CPU, for the encoders, in 8 bits: made on
        #    the device, it is a quarter of the float copy and spares the CPU the rounding.
        pictures = to_uint8(images).cpu()
        return [Drawing(p, float(score)) for p, score in zip(pictures, scores, strict=True)]

    def _store(self, drawings: Mapping[str, Drawing]) -> dict[str, Result | Failure]:
        """Encode as WebP and write (Pillow lets go of the GIL, so threads run in
        parallel, and so do their fsyncs: each picture is written durably)."""
        ids = list(drawings)
        threads = max(1, min(self.settings.encode_threads, len(ids)))
        with ThreadPoolExecutor(threads, thread_name_prefix="webp") as encoders:
            keys_ = list(
                encoders.map(lambda sid: self.images.put(encode_webp(drawings[sid].picture)), ids)
            )
        return {
            sid: Result(sid, key, drawings[sid].score, self.version)
            for sid, key in zip(ids, keys_, strict=True)
        }

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

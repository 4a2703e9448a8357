"""The GPU worker: takes jobs from the job stream, draws and scores them in batches, and
writes the results to the results stream (see :mod:`pipelines.contract`).

Several workers share the job stream through one consumer group. A job is acknowledged
only after its result entry is written; a job left pending by a dead worker is claimed
(XAUTOCLAIM) by another after ``job_claim_idle_ms``, and one delivered
:data:`~pipelines.contract.MAX_DELIVERIES` times is failed. Whoever applies the results
makes one applied twice change nothing, so a job run twice is harmless.

``python -m pipelines.worker`` runs one against ``LOOKALIKE_REDIS_URL``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import redis.asyncio
import torch

from pipelines import contract
from pipelines.connection import RETRY_ON, async_client, ensure_group
from pipelines.contract import Failure, Job, MessageError, Result, Started
from pipelines.images import encode_webp
from pipelines.metrics import METRICS, serve_worker_metrics
from pipelines.models import ModelUnavailable
from pipelines.pipeline import Pipeline
from pipelines.settings import Settings, SettingsError

log = logging.getLogger(__name__)

__all__ = ["Drawing", "Taken", "Worker", "ensure_jobs_group", "main"]


@dataclass(frozen=True)
class Taken:
    """A stream entry taken by this worker: its id and the job (None if unreadable)."""

    entry_id: str
    job: Job | None
    deliveries: int = 1


@dataclass(frozen=True)
class Drawing:
    """A drawn and scored picture on its way from the GPU to the encoders."""

    picture: torch.Tensor  # (3, H, W) uint8, on the CPU
    score: float


@dataclass(frozen=True)
class Timing:
    """When a batch went to the GPU and its GPU seconds per job."""

    started_at: float
    gpu_seconds: float


async def ensure_jobs_group(client: redis.asyncio.Redis) -> None:
    """Create the job stream and the workers' consumer group if missing."""
    await ensure_group(client, contract.JOBS, contract.JOBS_GROUP)


class Worker:
    """Runs jobs until ``stop`` is set. Use :meth:`load` to build one from settings."""

    def __init__(
        self,
        settings: Settings,
        client: redis.asyncio.Redis,
        pipeline: Pipeline,
        *,
        name: str | None = None,
    ) -> None:
        self.settings = settings
        self.redis = client
        self.pipeline = pipeline
        self.name = name or f"{socket.gethostname()}-{os.getpid()}"
        self.version = pipeline.version
        self._targets: dict[str, torch.Tensor] = {}  # target key -> embedding
        self.jobs_done = 0
        self.seconds_per_drawing = 0.0  # measured by warm_up
        self.ready = asyncio.Event()  # set once the first heartbeat is recorded
        # The previous batch being encoded and published while the GPU draws the next.
        self._finishing: asyncio.Task[None] | None = None

    @classmethod
    def load(cls, settings: Settings, client: redis.asyncio.Redis) -> Worker:
        """Load both models (building tiny ones first in tiny mode) and warm them up."""
        worker = cls(settings, client, Pipeline.load(settings))
        worker.warm_up()
        return worker

    def warm_up(self) -> None:
        """Run every batch shape once before the worker reports ready: first calls are
        slow, and compiled models compile (and capture CUDA graphs) on first use. Then
        time one full batch: :attr:`seconds_per_drawing` on this machine, logged."""
        generator = self.pipeline.generator
        for size in generator.warm_up_sizes(self.settings.batch_size):
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
        images = self.pipeline.generator(["warm-up"] * size, list(range(size)))
        # To the CPU: waits for the device, so the timing counts the work, not its launch.
        self.pipeline.scorer.embed_images(images).cpu()

    async def run(self, stop: asyncio.Event) -> None:
        """Take, run and publish batches until ``stop`` is set; outlive Redis outages."""
        await ensure_jobs_group(self.redis)
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
                    await ensure_jobs_group(self.redis)
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
                await self.redis.zrem(contract.WORKERS, self.name)

    async def _turn(self) -> None:
        """One batch through the GPU; its encoding and publishing overlap the next one."""
        taken = await self.take()
        if not taken:
            await self._drain()
            return
        await self.mark_started(taken)
        began = time.time()
        drawn = await self.draw(taken)
        timing = Timing(began, (time.time() - began) / len(taken))
        # Results go out in order, and a failed publish surfaces here, in the next turn.
        await self._drain()
        self._finishing = asyncio.create_task(self._finish(taken, drawn, timing))

    async def _finish(
        self, taken: Sequence[Taken], drawn: Mapping[str, Drawing | Failure], timing: Timing
    ) -> None:
        results = await asyncio.to_thread(self.encode_batch, taken, drawn, timing)
        await self.publish(taken, results)
        METRICS.observe_batch(
            [t.entry_id for t in taken],
            started=timing.started_at,
            finished=time.time(),
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
            # Waited here, not as XREADGROUP's BLOCK: Redis times a blocked read out only
            # when its event loop wakes, up to 1/hz (100 ms) late, which was most of a
            # drawing's latency with the tiny models.
            await asyncio.sleep(self.settings.batch_wait_ms / 1000)
            taken += await self._read(size - len(taken), None)
        return taken

    async def _read(self, count: int, block: int | None) -> list[Taken]:
        reply = await self.redis.xreadgroup(
            contract.JOBS_GROUP, self.name, {contract.JOBS: ">"}, count=count, block=block
        )
        entries = reply[0][1] if reply else []
        return [self._parse(entry_id, data) for entry_id, data in entries]

    async def _claim_stale(self, count: int) -> list[Taken]:
        reply = await self.redis.xautoclaim(
            contract.JOBS,
            contract.JOBS_GROUP,
            self.name,
            min_idle_time=self.settings.job_claim_idle_ms,
            start_id="0-0",
            count=count,
        )
        entries = [(entry_id, data) for entry_id, data in reply[1] if data]
        if not entries:
            return []
        pending = await self.redis.xpending_range(
            contract.JOBS, contract.JOBS_GROUP, min=entries[0][0], max=entries[-1][0], count=count
        )
        deliveries = {row["message_id"]: int(row["times_delivered"]) for row in pending}
        log.warning("claimed %d job(s) left by a stopped worker", len(entries))
        return [
            self._parse(entry_id, data, deliveries.get(entry_id, 1)) for entry_id, data in entries
        ]

    @staticmethod
    def _parse(entry_id: str, data: dict[str, str], deliveries: int = 1) -> Taken:
        try:
            return Taken(entry_id, Job.from_fields(data), deliveries)
        except MessageError:
            log.exception("dropping unreadable stream entry %s", entry_id)
            return Taken(entry_id, None, deliveries)

    async def mark_started(self, taken: Sequence[Taken]) -> None:
        """Tell the server the batch is on the GPU (players see their prompt drawn)."""
        ids = tuple(t.job.submission_id for t in taken if t.job is not None)
        if ids:
            await self.redis.xadd(contract.RESULTS, Started(ids).to_fields())

    # ------------------------------------------------------------------- run
    async def draw(self, taken: Sequence[Taken]) -> dict[str, Drawing | Failure]:
        """Fetch the batch's new targets, then draw and score it in a thread."""
        failed = await self._load_targets(taken)
        drawn = await asyncio.to_thread(self.draw_batch, [t for t in taken if t not in failed])
        return {**{t.job.submission_id: f for t, f in failed.items() if t.job}, **drawn}

    async def _load_targets(self, taken: Sequence[Taken]) -> dict[Taken, Failure]:
        """Embed the targets this worker has not seen yet; a job whose target is missing
        from Redis fails (a new event's target is written before its first job)."""
        failed: dict[Taken, Failure] = {}
        for item in taken:
            job = item.job
            if job is None or job.target_key in self._targets:
                continue
            encoded = await self.redis.get(contract.target(job.target_key))
            if encoded is None:
                reason = f"the target picture {job.target_key} is not in Redis"
                failed[item] = Failure(job.submission_id, reason)
                continue
            picture = base64.b64decode(encoded)
            embedding = await asyncio.to_thread(self.pipeline.embed_target, picture)
            self._targets[job.target_key] = embedding
        return failed

    async def run_batch(self, taken: Sequence[Taken]) -> list[Result | Failure]:
        """Draw, score and encode a batch: one outcome per entry, in order."""
        started = time.time()
        drawn = await self.draw(taken)
        timing = Timing(started, (time.time() - started) / max(len(taken), 1))
        return await asyncio.to_thread(self.encode_batch, taken, drawn, timing)

    def draw_batch(self, taken: Sequence[Taken]) -> dict[str, Drawing | Failure]:
        """The GPU half: draw and score the batch; pictures come back on the CPU."""
        jobs = [
            t.job for t in taken if t.job is not None and t.deliveries <= contract.MAX_DELIVERIES
        ]
        try:
            return dict(zip([j.submission_id for j in jobs], self._draw(jobs), strict=True))
        except Exception:
            # One bad job must not fail its batch-mates: retry them one by one.
            log.exception("batch of %d failed; retrying one at a time", len(jobs))
            return {job.submission_id: self._draw_one_safely(job) for job in jobs}

    def encode_batch(
        self, taken: Sequence[Taken], drawn: Mapping[str, Drawing | Failure], timing: Timing
    ) -> list[Result | Failure]:
        """The CPU half: encode the pictures as WebP, in parallel threads (Pillow lets go
        of the GIL)."""
        done: dict[str, Result | Failure] = {
            sid: d for sid, d in drawn.items() if isinstance(d, Failure)
        }
        drawings = {sid: d for sid, d in drawn.items() if isinstance(d, Drawing)}
        try:
            done.update(self._encode(drawings, timing))
        except Exception as exc:  # an encoder error: fail the jobs, keep the worker
            log.exception("encoding %d pictures failed", len(drawings))
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

    def _draw(self, jobs: Sequence[Job]) -> list[Drawing]:
        if not jobs:
            return []
        targets = torch.stack([self._targets[j.target_key] for j in jobs])
        drawn = self.pipeline([j.prompt for j in jobs], [j.seed for j in jobs], targets)
        return [Drawing(p, s) for p, s in zip(drawn.pictures, drawn.scores, strict=True)]

    def _encode(self, drawings: Mapping[str, Drawing], timing: Timing) -> dict[str, Result]:
        ids = list(drawings)
        threads = max(1, min(self.settings.encode_threads, len(ids)))
        with ThreadPoolExecutor(threads, thread_name_prefix="webp") as encoders:
            pictures = list(encoders.map(lambda sid: encode_webp(drawings[sid].picture), ids))
        finished = time.time()
        return {
            sid: Result(
                submission_id=sid,
                score=drawings[sid].score,
                picture=picture,
                model_version=self.version,
                gpu_seconds=timing.gpu_seconds,
                started_at=timing.started_at,
                finished_at=finished,
            )
            for sid, picture in zip(ids, pictures, strict=True)
        }

    # --------------------------------------------------------------- publish
    async def publish(self, taken: Sequence[Taken], results: Sequence[Result | Failure]) -> None:
        """Write each outcome to the results stream; only once they are all written,
        acknowledge and delete the job entries."""
        outcomes = [r for r in results if r.submission_id]
        if outcomes:
            async with self.redis.pipeline(transaction=False) as pipe:
                for outcome in outcomes:
                    pipe.xadd(contract.RESULTS, outcome.to_fields())
                await pipe.execute()  # raises if any entry was not written
        self.jobs_done += sum(isinstance(r, Result) for r in outcomes)
        entry_ids = [t.entry_id for t in taken]
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xack(contract.JOBS, contract.JOBS_GROUP, *entry_ids)
            pipe.xdel(contract.JOBS, *entry_ids)
            await pipe.execute()

    async def _heartbeat(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(redis.RedisError):
                await self.redis.zadd(contract.WORKERS, {self.name: time.time()})
                self.ready.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.settings.worker_heartbeat_s)


async def work(settings: Settings, client: redis.asyncio.Redis) -> None:
    """Load a worker and run it until SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    worker = await asyncio.to_thread(Worker.load, settings, client)
    log.info("worker %s ready: %s", worker.name, worker.version)
    await worker.run(stop)


def main(environ: Mapping[str, str]) -> int:
    """Run a worker against ``LOOKALIKE_REDIS_URL`` of ``environ``: exit 2 on bad settings,
    3 when the models cannot be loaded."""
    try:
        settings = Settings.from_env(environ)
    except SettingsError as exc:
        print(f"lookalike worker: {exc}", file=sys.stderr)
        return 2
    if not settings.redis_url:
        print("lookalike worker: set LOOKALIKE_REDIS_URL", file=sys.stderr)
        return 2
    serve_worker_metrics(settings)

    async def run() -> None:
        client = async_client(settings.redis_url)
        try:
            await work(settings, client)
        finally:
            await client.aclose()

    try:
        asyncio.run(run())
    except ModelUnavailable as exc:
        print(f"lookalike worker: {exc}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    raise SystemExit(main(os.environ))

"""The job queue: the :class:`QueueState` counters, the workers' heartbeats, and a job's
way through it (started, completed with its score, or failed) with the scripts that
record each step atomically, followers and the leaderboard included."""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import redis.asyncio

from pipelines import connection
from server.state import keys
from server.state.part import Part, num
from server.state.scripts import Script, lua


@dataclass(frozen=True)
class QueueState:
    enqueued: int
    started: int
    job_seconds: float  # moving average of GPU seconds per job; 0 before the first batch

    @property
    def depth(self) -> int:
        return max(self.enqueued - self.started, 0)


async def ensure_group(client: redis.asyncio.Redis) -> None:
    """Create the jobs stream and its consumer group if missing (safe to race)."""
    await connection.ensure_group(client, keys.JOBS, keys.JOBS_GROUP)


def _queue_state(data: dict[str, str]) -> QueueState:
    return QueueState(
        enqueued=int(data.get("enqueued", 0)),
        started=int(data.get("started", 0)),
        job_seconds=float(data.get("job_seconds", 0.0)),
    )


class Queue(Part):
    """The queue's counters and workers, and recording a job's start, result or failure."""

    @functools.cached_property
    def _start(self) -> Script:
        return self.scripts.register(lua("keys", "start"))

    @functools.cached_property
    def _complete(self) -> Script:
        return self.scripts.register(lua("keys", "leaderboard", "complete"))

    @functools.cached_property
    def _fail(self) -> Script:
        return self.scripts.register(lua("keys", "fail"))

    async def queue_state(self) -> QueueState:
        return _queue_state(await self.redis.hgetall(keys.QUEUE))

    async def queue_and_workers(self, worker_stale_s: float) -> tuple[QueueState, int]:
        """The queue state, and how many workers sent a heartbeat in the last
        ``worker_stale_s`` seconds, in one round trip."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(keys.QUEUE)
            pipe.zcount(keys.WORKERS, num(time.time() - worker_stale_s), "+inf")
            data, workers = cast(tuple[dict[str, str], int], await pipe.execute())
        return _queue_state(data), workers

    async def record_job_seconds(self, seconds_per_job: float, weight: float = 0.2) -> None:
        """Fold one batch's GPU seconds per job into the moving average used for ETAs."""
        current = (await self.queue_state()).job_seconds
        value = seconds_per_job
        if current > 0:
            value = (1 - weight) * current + weight * seconds_per_job
        await self.redis.hset(keys.QUEUE, "job_seconds", num(value))

    async def start(self, submission_id: str) -> bool:
        """QUEUED → GENERATING (with its followers); False if it was not QUEUED."""
        (done,) = await self.start_many([submission_id])
        return done

    async def start_many(self, submission_ids: Sequence[str]) -> list[bool]:
        """:meth:`start` for a whole batch in one round trip: the worker does this while
        the GPU waits for the batch, so one trip per job would idle it."""
        if not submission_ids:
            return []
        now = num(time.time())
        async with self.redis.pipeline(transaction=False) as pipe:
            for sid in submission_ids:
                await self._start.fallback(
                    keys=[keys.submission(sid), keys.followers(sid), keys.QUEUE],
                    args=[keys.LUA_KEY_FORMATS, sid, now],
                    client=pipe,
                )
            done = await pipe.execute()
        return [bool(d) for d in done]

    async def complete(
        self, submission_id: str, *, score: float, image_key: str, model_version: str
    ) -> bool:
        """Record a result; idempotent: False (and no change) if already finished."""
        event_id: str | None = await self.redis.hget(keys.submission(submission_id), "event_id")
        if event_id is None:
            return False
        done = await self._complete(
            keys=[
                keys.submission(submission_id),
                keys.followers(submission_id),
                keys.board(event_id),
                keys.best(event_id),
                keys.event_counts(event_id),
                keys.recent(event_id),
                keys.event_channel(event_id),
                keys.HIDDEN_IMAGES,
            ],
            args=[
                keys.LUA_KEY_FORMATS,
                submission_id,
                num(time.time()),
                num(score),
                image_key,
                model_version,
                keys.RECENT_KEPT,
            ],
        )
        return bool(done)

    async def fail(self, submission_id: str, reason: str) -> bool:
        """End a submission (and its followers) as FAILED; a later identical prompt redraws."""
        done = await self._fail(
            keys=[keys.submission(submission_id), keys.followers(submission_id)],
            args=[keys.LUA_KEY_FORMATS, submission_id, num(time.time()), reason],
        )
        return bool(done)

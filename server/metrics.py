"""Prometheus metrics of a web server, in a registry of its own, served at ``/metrics``.

Every server process has one :data:`METRICS` (a :class:`Metrics` with a private
``CollectorRegistry``, so tests and several apps in one process never collide with
``prometheus_client``'s global registry). A server counts submissions, captcha failures
and live subscriptions, and samples the job queue and the live workers from Redis every
``metrics_interval_s`` (:meth:`Metrics.sample_queue_forever`). Workers serve figures of
their own (:mod:`pipelines.metrics`); Prometheus scrapes both.

``python -m server.metrics probe URL`` runs the health probe of
:mod:`pipelines.metrics`, for the containers' health checks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Literal, get_args

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    generate_latest,
)

from server.errors import ErrorCode
from server.state import keys

if TYPE_CHECKING:
    import redis.asyncio


log = logging.getLogger(__name__)

SubmissionOutcome = Literal["accepted", "deduplicated", "rejected"]
SubscriptionKind = Literal["leaderboard", "submission"]
QueueState = Literal["waiting", "running"]


class Metrics:
    """A web server's metrics, registered in a private :class:`CollectorRegistry`."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.queue_depth = Gauge(
            "lookalike_queue_depth",
            "Jobs on the queue: waiting = not yet taken by a worker, running = taken, not done.",
            ["state"],
            registry=r,
        )
        self.workers_alive = Gauge(
            "lookalike_workers_alive",
            "Workers whose heartbeat in Redis is fresher than worker_stale_s.",
            registry=r,
        )
        self.redis_up = Gauge(
            "lookalike_redis_up",
            "1 when the last queue sample could read Redis, else 0.",
            registry=r,
        )
        self.subscribers = Gauge(
            "lookalike_subscribers",
            "Open GraphQL subscriptions on this server.",
            ["kind"],
            registry=r,
        )
        self.submissions = Counter(
            "lookalike_submissions",
            "Prompts submitted, by outcome; code is the API error code of a rejection.",
            ["outcome", "code"],
            registry=r,
        )
        self._submissions_by: dict[tuple[str, str], Counter] = {}
        self.captcha_failures = Counter(
            "lookalike_captcha_failures",
            "Submissions whose captcha solution was missing, invalid, expired or replayed.",
            registry=r,
        )
        self.graphql_posts = Counter(
            "lookalike_graphql_posts",
            "GraphQL requests by who answered: fast (server/api/fastpath.py), strawberry's view, "
            "or refused (malformed, or a document that does not parse or validate).",
            ["path"],
            registry=r,
        )
        # Series that exist from the start, so rate() and dashboards see zeros, not gaps.
        for kind in get_args(SubscriptionKind):
            self.subscribers.labels(kind=kind)
        for outcome in ("accepted", "deduplicated"):
            self.submissions.labels(outcome=outcome, code="")
        for path in ("fast", "view", "refused"):
            self.graphql_posts.labels(path=path)

    def count_submission(self, outcome: SubmissionOutcome, code: ErrorCode | None = None) -> None:
        """Count one submission; ``code`` is the ``extensions.code`` of a rejection."""
        labels = (outcome, (code or "UNSPECIFIED") if outcome == "rejected" else "")
        counter = self._submissions_by.get(labels)
        if counter is None:  # labels() validates and takes a lock on every call
            counter = self._submissions_by[labels] = self.submissions.labels(*labels)
        counter.inc()

    def count_captcha_failure(self) -> None:
        """Count one submission refused for its captcha."""
        self.captcha_failures.inc()

    @contextlib.contextmanager
    def subscribed(self, kind: SubscriptionKind) -> Iterator[None]:
        """Count an open subscription for the duration of the ``with`` block."""
        gauge = self.subscribers.labels(kind=kind)
        gauge.inc()
        try:
            yield
        finally:
            gauge.dec()

    async def sample_queue(self, client: redis.asyncio.Redis, *, stale_s: float) -> None:
        """Set the queue depth and live-worker gauges from Redis (a few O(1) commands).

        Raises ``redis.RedisError`` when Redis cannot be read; ``redis_up`` is set either way.
        """
        import redis

        try:
            waiting, running = await _queue_depth(client)
            alive = await client.zcount(keys.WORKERS, time.time() - stale_s, "+inf")
        except redis.RedisError:
            self.redis_up.set(0)
            raise
        self.queue_depth.labels(state="waiting").set(waiting)
        self.queue_depth.labels(state="running").set(running)
        self.workers_alive.set(alive)
        self.redis_up.set(1)

    async def sample_queue_forever(
        self, client: redis.asyncio.Redis, *, interval_s: float, stale_s: float
    ) -> None:
        """Call :meth:`sample_queue` every ``interval_s`` until cancelled; Redis errors
        are logged (once per outage) and retried, never raised."""
        import redis

        failing = False
        while True:
            try:
                await self.sample_queue(client, stale_s=stale_s)
                if failing:
                    log.info("metrics: Redis readable again")
                failing = False
            except redis.RedisError as exc:
                if not failing:
                    log.warning("metrics: cannot sample the job queue from Redis: %s", exc)
                failing = True
            await asyncio.sleep(interval_s)

    def render(self) -> tuple[bytes, str]:
        """The text exposition of every metric and its content type, for ``/metrics``."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


METRICS = Metrics()
"""This process's metrics."""


def render() -> tuple[bytes, str]:
    """Body and content type of ``/metrics`` for this process's :data:`METRICS`."""
    return METRICS.render()


async def _queue_depth(client: redis.asyncio.Redis) -> tuple[int, int]:
    """(waiting, running) jobs of the workers' consumer group on the jobs stream."""
    import redis

    try:
        groups: list[dict[str, Any]] = await client.xinfo_groups(keys.JOBS)
    except redis.ResponseError as exc:
        if "no such key" in str(exc).lower():
            return 0, 0  # nothing was ever submitted
        raise
    group = next((g for g in groups if _text(g.get("name")) == keys.JOBS_GROUP), None)
    if group is None:
        # No worker has created the group yet: every entry is waiting.
        return int(await client.xlen(keys.JOBS)), 0
    running = int(group.get("pending") or 0)
    lag = group.get("lag")
    if lag is not None:  # Redis >= 7
        return int(lag), running
    # Redis < 7 has no ``lag``. Workers delete a job's entry when they acknowledge it
    # (so do moderators cancelling one), so the stream holds exactly the waiting and the
    # running jobs: O(1), where reading the undelivered entries stalled the loop for
    # tens of ms with a long queue.
    return max(int(await client.xlen(keys.JOBS)) - running, 0), running


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


if __name__ == "__main__":
    # The health probe is the GPU service's (it has no web server to import); servers'
    # containers still call it by this name.
    from pipelines.metrics import main

    raise SystemExit(main())

"""Prometheus metrics for the server and the workers, in a registry of their own.

Every process has one :data:`METRICS` (a :class:`Metrics` with a private
``CollectorRegistry``, so tests and several apps in one process never collide with
``prometheus_client``'s global registry). Who sets what:

* a **server** counts submissions, captcha failures and live subscriptions, samples
  the job queue and the live workers from Redis every ``metrics_interval_s``
  (:meth:`Metrics.sample_queue_forever`), and serves everything at ``/metrics`` with
  :func:`render`;
* a **worker** runs in another process (often on another host), so it serves its own
  figures (job wait and service times, batch sizes, GPU utilisation, a heartbeat) over
  HTTP on ``worker_metrics_port`` with :func:`serve_worker_metrics`; Prometheus scrapes
  servers and workers alike and the dashboard aggregates with ``sum``/``max``.

``lookalike up`` runs its worker as a child process too: set ``worker_metrics_port``
to see the worker's figures there. (A worker run inside a server's process would share
:data:`METRICS`, and the server's ``/metrics`` would show everything.)

``python -m server.metrics probe URL [--max-heartbeat-age S]`` is the container health
check: it fails when ``URL`` does not answer 2xx or, for a worker's metrics URL, when
the worker loop's heartbeat is older than ``S`` seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, get_args

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from server.errors import ErrorCode
from server.state import keys

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    import redis.asyncio

    from server.settings import Settings

log = logging.getLogger(__name__)

SubmissionOutcome = Literal["accepted", "deduplicated", "rejected"]
SubscriptionKind = Literal["leaderboard", "submission"]
QueueState = Literal["waiting", "running"]

HEARTBEAT_METRIC = "lookalike_worker_heartbeat_timestamp_seconds"

_WAIT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 20, 30, 60, 120, 300)
_SERVICE_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30)
_BATCH_BUCKETS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 64)


@dataclass(frozen=True)
class GpuSample:
    """One GPU's figures at one moment."""

    index: int
    utilization: float  # 0..1, share of the last sample period the GPU was busy
    memory_used_bytes: int
    memory_total_bytes: int


GpuReader = Callable[[], Sequence[GpuSample]]


def read_nvml() -> list[GpuSample]:
    """Read every visible GPU through NVML (package ``nvidia-ml-py``); [] without one."""
    try:
        import pynvml
    except ImportError:
        return []
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        return []
    try:
        samples = []
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            rates = pynvml.nvmlDeviceGetUtilizationRates(handle)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
            samples.append(
                GpuSample(
                    index=index,
                    utilization=float(rates.gpu) / 100.0,
                    memory_used_bytes=int(memory.used),
                    memory_total_bytes=int(memory.total),
                )
            )
        return samples
    except pynvml.NVMLError as exc:
        log.warning("cannot read GPU figures from NVML: %s", exc)
        return []
    finally:
        pynvml.nvmlShutdown()


class GpuCollector(Collector):
    """Reads GPU utilisation and memory at scrape time (an NVML query takes microseconds)."""

    def __init__(self, read: GpuReader = read_nvml) -> None:
        self._read = read

    def describe(self) -> Iterable[Metric]:
        return self._families()

    def collect(self) -> Iterable[Metric]:
        return self._families(self._read())

    @staticmethod
    def _families(samples: Sequence[GpuSample] = ()) -> list[Metric]:
        utilization = GaugeMetricFamily(
            "lookalike_gpu_utilization_ratio",
            "Share of time the GPU was busy over the driver's last sample period (0..1).",
            labels=["gpu"],
        )
        used = GaugeMetricFamily(
            "lookalike_gpu_memory_used_bytes", "GPU memory in use.", labels=["gpu"]
        )
        total = GaugeMetricFamily(
            "lookalike_gpu_memory_total_bytes", "GPU memory in total.", labels=["gpu"]
        )
        for sample in samples:
            gpu = [str(sample.index)]
            utilization.add_metric(gpu, sample.utilization)
            used.add_metric(gpu, sample.memory_used_bytes)
            total.add_metric(gpu, sample.memory_total_bytes)
        return [utilization, used, total]


class Metrics:
    """All of Lookalike's metrics, registered in a private :class:`CollectorRegistry`."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        # --- set by servers
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
        # --- set by workers
        self.job_wait = Histogram(
            "lookalike_job_wait_seconds",
            "Time from a job entering the queue to a worker starting it.",
            buckets=_WAIT_BUCKETS,
            registry=r,
        )
        self.job_service = Histogram(
            "lookalike_job_service_seconds",
            "Time a worker spent drawing and scoring a job (its whole batch's time).",
            buckets=_SERVICE_BUCKETS,
            registry=r,
        )
        self.batch_size = Histogram(
            "lookalike_batch_size",
            "Jobs per GPU batch.",
            buckets=_BATCH_BUCKETS,
            registry=r,
        )
        self.jobs = Counter(
            "lookalike_jobs",
            "Jobs finished by workers, by outcome (done or failed).",
            ["outcome"],
            registry=r,
        )
        self.worker_heartbeat = Gauge(
            HEARTBEAT_METRIC,
            "Unix time of the worker loop's last turn; 0 before the first.",
            registry=r,
        )
        self._gpu: GpuCollector | None = None
        # Series that exist from the start, so rate() and dashboards see zeros, not gaps.
        for kind in get_args(SubscriptionKind):
            self.subscribers.labels(kind=kind)
        for outcome in ("accepted", "deduplicated"):
            self.submissions.labels(outcome=outcome, code="")
        for outcome in ("done", "failed"):
            self.jobs.labels(outcome=outcome)
        for path in ("fast", "view", "refused"):
            self.graphql_posts.labels(path=path)

    # --- server side
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

    # --- worker side
    def observe_batch(
        self,
        entry_ids: Sequence[str],
        *,
        started: float,
        finished: float,
        failed: int = 0,
    ) -> None:
        """Record one GPU batch: its stream entry ids, when it started and finished
        (``time.time()`` values) and how many of its jobs failed."""
        if not entry_ids:
            return
        service = max(finished - started, 0.0)
        for entry_id in entry_ids:
            self.job_wait.observe(wait_seconds(entry_id, started))
            self.job_service.observe(service)
        self.batch_size.observe(len(entry_ids))
        failed = min(max(failed, 0), len(entry_ids))
        self.jobs.labels(outcome="done").inc(len(entry_ids) - failed)
        if failed:
            self.jobs.labels(outcome="failed").inc(failed)

    def heartbeat(self) -> None:
        """Mark one turn of the worker loop; the container health check reads it."""
        self.worker_heartbeat.set(time.time())

    def watch_gpu(self, read: GpuReader = read_nvml) -> None:
        """Export GPU utilisation and memory, read at scrape time. Idempotent."""
        if self._gpu is None:
            self._gpu = GpuCollector(read)
            self.registry.register(self._gpu)

    def serve(self, port: int, host: str = "127.0.0.1") -> WSGIServer:
        """Serve this registry over HTTP on a daemon thread (port 0: any free port).

        Returns the server: ``server_port`` is the bound port, ``shutdown()`` stops it.
        """
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        return server

    # --- both
    def render(self) -> tuple[bytes, str]:
        """The text exposition of every metric and its content type, for ``/metrics``."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


METRICS = Metrics()
"""This process's metrics."""


def render() -> tuple[bytes, str]:
    """Body and content type of ``/metrics`` for this process's :data:`METRICS`."""
    return METRICS.render()


def serve_worker_metrics(settings: Settings, metrics: Metrics = METRICS) -> WSGIServer | None:
    """In a worker: watch the GPU and serve ``metrics`` on ``settings.worker_metrics_port``.

    Call it first thing, before loading models, so the health check answers during the
    load. Returns the HTTP server, or None when ``worker_metrics_port`` is 0 (off).
    """
    metrics.watch_gpu()
    if settings.worker_metrics_port <= 0:
        return None
    server = metrics.serve(settings.worker_metrics_port, settings.worker_metrics_host)
    log.info(
        "worker metrics on http://%s:%d/metrics", settings.worker_metrics_host, server.server_port
    )
    return server


def wait_seconds(entry_id: str, now: float) -> float:
    """Seconds from a Redis stream entry's creation (its id is ``<unix ms>-<seq>``) to
    ``now``; never negative, as the Redis host's clock may run ahead of ours."""
    millis, _, _ = entry_id.partition("-")
    try:
        return max(now - int(millis) / 1000.0, 0.0)
    except ValueError as exc:
        raise ValueError(
            f"expected a stream entry id like '1700000000000-0', got {entry_id!r}"
        ) from exc


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


# --- health probe


class ProbeFailed(RuntimeError):
    """A health probe found the process unhealthy; the message says why."""


def probe(url: str, *, max_heartbeat_age_s: float | None = None, timeout_s: float = 3.0) -> None:
    """Raise :class:`ProbeFailed` unless ``url`` answers 2xx and, when
    ``max_heartbeat_age_s`` is given, the worker heartbeat it exposes is fresh.

    A heartbeat of 0 (the worker loop has not started, e.g. models still loading) passes:
    start-up time is the orchestrator's start period, not this check's business.
    """
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            body = response.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError) as exc:
        raise ProbeFailed(f"{url} did not answer: {exc}") from exc
    if max_heartbeat_age_s is None:
        return
    beat = _heartbeat(body)
    if beat is None:
        raise ProbeFailed(f"{url} has no {HEARTBEAT_METRIC}; is it a worker's metrics URL?")
    age = time.time() - beat
    if beat > 0 and age > max_heartbeat_age_s:
        raise ProbeFailed(f"worker loop stalled: last heartbeat {age:.0f} s ago")


def _heartbeat(exposition: str) -> float | None:
    for family in text_string_to_metric_families(exposition):
        if family.name == HEARTBEAT_METRIC:
            for sample in family.samples:
                return float(sample.value)
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m server.metrics probe URL [--max-heartbeat-age S]``: exit 0 if healthy."""
    parser = argparse.ArgumentParser(prog="python -m server.metrics")
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("probe", help="health check for containers")
    check.add_argument("url")
    check.add_argument("--max-heartbeat-age", type=float, default=None, metavar="SECONDS")
    check.add_argument("--timeout", type=float, default=3.0, metavar="SECONDS")
    args = parser.parse_args(argv)
    try:
        probe(args.url, max_heartbeat_age_s=args.max_heartbeat_age, timeout_s=args.timeout)
    except ProbeFailed as exc:
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Metrics: Prometheus text format, counters that move, queue sampling on a real Redis."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
import redis.asyncio
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from pipelines.metrics import (
    HEARTBEAT_METRIC,
    GpuSample,
    ProbeFailed,
    WorkerMetrics,
    main,
    probe,
    read_nvml,
    wait_seconds,
)
from server.metrics import METRICS, Metrics, render
from server.state import keys
from server.state.connection import async_client, free_port
from tests.waiting import until

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(metrics: Metrics | WorkerMetrics) -> Samples:
    """Every sample of a render, parsed back from the text format."""
    body, _ = metrics.render()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }


def value(metrics: Metrics | WorkerMetrics, name: str, **labels: str) -> float:
    return samples(metrics).get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
def worker_metrics() -> WorkerMetrics:
    return WorkerMetrics()


@pytest.fixture
def serve(worker_metrics: WorkerMetrics) -> Iterator[Callable[[], str]]:
    """Factory: serve a worker's metrics on a free port; returns the URL; stopped after."""
    servers = []

    def start() -> str:
        server = worker_metrics.serve(0)
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}/metrics"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_render_is_prometheus_text_with_lookalike_names(
    metrics: Metrics, worker_metrics: WorkerMetrics
) -> None:
    body, content_type = metrics.render()
    assert content_type.startswith("text/plain; version=")
    worker_body, worker_type = worker_metrics.render()
    assert worker_type == content_type
    names = {
        f.name for b in (body, worker_body) for f in text_string_to_metric_families(b.decode())
    }
    assert names >= {
        "lookalike_queue_depth",
        "lookalike_workers_alive",
        "lookalike_job_wait_seconds",
        "lookalike_job_service_seconds",
        "lookalike_batch_size",
        "lookalike_subscribers",
        "lookalike_submissions",
        "lookalike_captcha_failures",
        "lookalike_jobs",
        HEARTBEAT_METRIC,
    }
    assert all(name.startswith("lookalike_") for name in names)


def test_module_render_uses_the_process_metrics() -> None:
    before = value(METRICS, "lookalike_captcha_failures_total")
    METRICS.count_captcha_failure()
    body, _ = render()
    assert f"lookalike_captcha_failures_total {before + 1.0}" in body.decode()


def test_instances_have_separate_registries(metrics: Metrics) -> None:
    other = Metrics()
    metrics.count_captcha_failure()
    assert value(metrics, "lookalike_captcha_failures_total") == 1.0
    assert value(other, "lookalike_captcha_failures_total") == 0.0


def test_submission_outcomes_and_rejection_codes_are_counted(metrics: Metrics) -> None:
    metrics.count_submission("accepted")
    metrics.count_submission("accepted")
    metrics.count_submission("deduplicated")
    metrics.count_submission("rejected", "RATE_LIMITED")
    metrics.count_submission("rejected")
    name = "lookalike_submissions_total"
    assert value(metrics, name, outcome="accepted", code="") == 2.0
    assert value(metrics, name, outcome="deduplicated", code="") == 1.0
    assert value(metrics, name, outcome="rejected", code="RATE_LIMITED") == 1.0
    assert value(metrics, name, outcome="rejected", code="UNSPECIFIED") == 1.0


def test_series_exist_before_anything_happens(
    metrics: Metrics, worker_metrics: WorkerMetrics
) -> None:
    found = samples(metrics)
    for kind in ("leaderboard", "submission"):
        assert found[("lookalike_subscribers", frozenset({("kind", kind)}))] == 0.0
    found = samples(worker_metrics)
    for outcome in ("done", "failed"):
        assert found[("lookalike_jobs_total", frozenset({("outcome", outcome)}))] == 0.0


def test_subscribed_counts_while_open_even_when_the_body_fails(metrics: Metrics) -> None:
    with metrics.subscribed("leaderboard"), metrics.subscribed("leaderboard"):
        assert value(metrics, "lookalike_subscribers", kind="leaderboard") == 2.0
        assert value(metrics, "lookalike_subscribers", kind="submission") == 0.0
    with pytest.raises(RuntimeError), metrics.subscribed("submission"):
        raise RuntimeError("client went away")
    assert value(metrics, "lookalike_subscribers", kind="leaderboard") == 0.0
    assert value(metrics, "lookalike_subscribers", kind="submission") == 0.0


def test_observe_batch_records_wait_service_size_and_outcomes(
    worker_metrics: WorkerMetrics,
) -> None:
    started = 1_700_000_010.0
    ids = ["1700000000000-0", "1700000009500-3", "1700000009900-0"]  # waited 10, 0.5, 0.1 s
    worker_metrics.observe_batch(ids, started=started, finished=started + 0.4, failed=1)

    assert value(worker_metrics, "lookalike_job_wait_seconds_count") == 3.0
    assert value(worker_metrics, "lookalike_job_wait_seconds_sum") == pytest.approx(10.6)
    assert value(worker_metrics, "lookalike_job_wait_seconds_bucket", le="0.5") == 2.0
    assert value(worker_metrics, "lookalike_job_service_seconds_sum") == pytest.approx(1.2)
    assert value(worker_metrics, "lookalike_batch_size_count") == 1.0
    assert value(worker_metrics, "lookalike_batch_size_sum") == 3.0
    assert value(worker_metrics, "lookalike_jobs_total", outcome="done") == 2.0
    assert value(worker_metrics, "lookalike_jobs_total", outcome="failed") == 1.0


def test_observe_batch_ignores_an_empty_batch(worker_metrics: WorkerMetrics) -> None:
    worker_metrics.observe_batch([], started=1.0, finished=2.0)
    assert value(worker_metrics, "lookalike_batch_size_count") == 0.0


def test_wait_seconds_reads_the_stream_id_clock() -> None:
    assert wait_seconds("1700000000000-0", 1_700_000_002.5) == pytest.approx(2.5)
    # The Redis host's clock ahead of ours: never a negative wait.
    assert wait_seconds("1700000005000-0", 1_700_000_000.0) == 0.0
    with pytest.raises(ValueError, match="stream entry id"):
        wait_seconds("not-an-id", 0.0)


def test_gpu_figures_come_from_the_reader_at_scrape_time(worker_metrics: WorkerMetrics) -> None:
    readings = [GpuSample(0, 0.25, 1_000, 8_000)]
    worker_metrics.watch_gpu(read=lambda: readings)
    worker_metrics.watch_gpu(read=lambda: [])  # idempotent: the first reader stays
    assert value(worker_metrics, "lookalike_gpu_utilization_ratio", gpu="0") == 0.25
    assert value(worker_metrics, "lookalike_gpu_memory_used_bytes", gpu="0") == 1_000.0
    readings.append(GpuSample(1, 0.75, 2_000, 8_000))
    assert value(worker_metrics, "lookalike_gpu_utilization_ratio", gpu="1") == 0.75


def test_read_nvml_never_raises_without_a_gpu_library() -> None:
    assert all(isinstance(s, GpuSample) for s in read_nvml())


async def test_sample_queue_counts_waiting_running_and_live_workers(
    metrics: Metrics, aredis: redis.asyncio.Redis, redis_client: redis.Redis
) -> None:
    await metrics.sample_queue(aredis, stale_s=15)
    assert value(metrics, "lookalike_queue_depth", state="waiting") == 0.0
    assert value(metrics, "lookalike_redis_up") == 1.0

    ids = [str(redis_client.xadd(keys.JOBS, {"n": str(n)})) for n in range(5)]
    await metrics.sample_queue(aredis, stale_s=15)
    assert value(metrics, "lookalike_queue_depth", state="waiting") == 5.0  # no group yet

    redis_client.xgroup_create(keys.JOBS, keys.JOBS_GROUP, id="0")
    redis_client.xreadgroup(keys.JOBS_GROUP, "w1", {keys.JOBS: ">"}, count=2)
    redis_client.xack(keys.JOBS, keys.JOBS_GROUP, ids[0])
    redis_client.xdel(keys.JOBS, ids[0])  # as the worker does once a job is recorded
    now = time.time()
    redis_client.zadd(keys.WORKERS, {"fresh": now, "stale": now - 60})

    await metrics.sample_queue(aredis, stale_s=15)
    assert value(metrics, "lookalike_queue_depth", state="waiting") == 3.0
    assert value(metrics, "lookalike_queue_depth", state="running") == 1.0
    assert value(metrics, "lookalike_workers_alive") == 1.0


async def test_sample_queue_reports_redis_down(metrics: Metrics) -> None:
    client = async_client(f"redis://127.0.0.1:{free_port()}/0")
    try:
        with pytest.raises(redis.RedisError):
            await metrics.sample_queue(client, stale_s=15)
    finally:
        await client.aclose()
    assert value(metrics, "lookalike_redis_up") == 0.0


class CountingRedis(redis.asyncio.Redis):
    """Counts the commands tried (each sample tries at least one)."""

    commands = 0

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        self.commands += 1
        return await super().execute_command(*args, **options)


async def test_sampler_survives_redis_outages_and_logs_once(
    metrics: Metrics, caplog: pytest.LogCaptureFixture
) -> None:
    # No retries: each sample fails at once, so many samples fail during the test.
    client = CountingRedis(port=free_port(), retry=Retry(NoBackoff(), 0))
    task = asyncio.create_task(metrics.sample_queue_forever(client, interval_s=0.01, stale_s=15))
    with caplog.at_level(logging.WARNING, logger="server.metrics"):
        await until(
            lambda: asyncio.sleep(0, any(r.name == "server.metrics" for r in caplog.records)),
            timeout=10,
            what="the warning about Redis",
        )
        assert value(metrics, "lookalike_redis_up") == 0.0
        # Twenty more failing samples, and no new log line.
        seen = client.commands
        await until(
            lambda: asyncio.sleep(0, client.commands >= seen + 20),
            timeout=10,
            what="twenty more samples",
        )
        assert not task.done()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    await client.aclose()
    warnings = [r for r in caplog.records if r.name == "server.metrics"]
    assert len(warnings) == 1
    assert value(metrics, "lookalike_redis_up") == 0.0


def test_served_metrics_pass_the_probe_until_the_heartbeat_is_stale(
    worker_metrics: WorkerMetrics, serve: Callable[[], str]
) -> None:
    url = serve()
    probe(url)
    probe(url, max_heartbeat_age_s=60)  # 0 = loop not started yet: still healthy
    worker_metrics.heartbeat()
    probe(url, max_heartbeat_age_s=60)
    worker_metrics.worker_heartbeat.set(time.time() - 120)
    with pytest.raises(ProbeFailed, match="stalled"):
        probe(url, max_heartbeat_age_s=60)
    assert main(["probe", url]) == 0
    assert main(["probe", url, "--max-heartbeat-age", "60"]) == 1


def test_probe_fails_when_nothing_answers(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}/healthz"
    with pytest.raises(ProbeFailed, match="did not answer"):
        probe(url, timeout_s=1)
    assert main(["probe", url, "--timeout", "1"]) == 1
    assert "unhealthy" in capsys.readouterr().err

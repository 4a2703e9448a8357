"""Prometheus metrics of a GPU worker, served over HTTP, and the containers' health probe.

A worker runs in a process of its own (often on a host of its own), so it serves its
figures (job wait and service times, batch sizes, GPU utilisation and memory, a
heartbeat) on ``LOOKALIKE_WORKER_METRICS_PORT`` with :func:`serve_worker_metrics`, from
a private ``CollectorRegistry`` (:data:`METRICS`); Prometheus scrapes workers and web
servers alike, and the dashboard aggregates with ``sum``/``max``.

``python -m pipelines.metrics probe URL [--max-heartbeat-age S]`` is the container health
check, for web servers and workers: it fails when ``URL`` does not answer 2xx or, for a
worker's metrics URL, when the worker loop's heartbeat is older than ``S`` seconds.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

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

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from pipelines.settings import Settings

log = logging.getLogger(__name__)

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


class WorkerMetrics:
    """A worker's metrics, registered in a private :class:`CollectorRegistry`."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
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
        for outcome in ("done", "failed"):
            self.jobs.labels(outcome=outcome)

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

    def render(self) -> tuple[bytes, str]:
        """The text exposition of every metric and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


METRICS = WorkerMetrics()
"""This process's worker metrics."""


def serve_worker_metrics(settings: Settings, metrics: WorkerMetrics = METRICS) -> WSGIServer | None:
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
    """``python -m pipelines.metrics probe URL [--max-heartbeat-age S]``: exit 0 if healthy."""
    parser = argparse.ArgumentParser(prog="python -m pipelines.metrics")
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

"""The process-wide resources of a server, opened in the app's lifespan."""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import redis.asyncio
from starlette.requests import HTTPConnection

from server.abuse import limits
from server.abuse.captcha import CaptchaVerifier, Ticket, make_verifier
from server.ids import new_id
from server.live.board import Broadcaster
from server.metrics import METRICS
from server.organiser.demo import target_webp
from server.settings import Settings
from server.state import keys
from server.state.connection import async_client
from server.state.participants import ParticipantRecord
from server.state.pictures import ImageStore, put_target, share_targets
from server.state.queue import QueueState, ensure_group
from server.state.results import consuming
from server.state.store import Store
from server.state.submissions import SubmissionRecord

log = logging.getLogger(__name__)

GC_YOUNG_THRESHOLD = 20_000  # allocations between young-generation collections
DEFAULT_GC_THRESHOLD = gc.get_threshold()


@dataclass
class Resources:
    """Everything a request may use; one per server process."""

    settings: Settings
    redis: redis.asyncio.Redis
    store: Store
    broadcaster: Broadcaster
    images: ImageStore
    captcha: CaptchaVerifier

    def client_ip(self, connection: HTTPConnection) -> str:
        """The client's address (behind a trusted proxy, the one it saw: see server.app)."""
        return limits.client_address(connection.client)

    async def admit(
        self, participant: ParticipantRecord | None, captcha: str | None, ip: str
    ) -> Ticket | None:
        """The captcha, when due; raises ApiError with the code to show.

        When every submission needs a captcha (``captcha_every`` 1, the default), its
        ticket comes back unclaimed: the store claims it in the script that records the
        submission, one round trip fewer; ``participant`` may then be None (not read
        yet). Otherwise the participant's credit decides, and a captcha is claimed here,
        before the credit it earns for the next submissions is recorded. The rate limits
        (:func:`limits.submission_limits`) come next, also in the store's script.
        """
        if self.settings.captcha_every == 1:
            return await self.captcha.check(captcha, remote_ip=ip)
        if participant is None:
            raise ValueError("captcha credit is per participant: read the caller first")
        if not await limits.captcha_needed(self.redis, participant.id, self.settings):
            return None
        await self.captcha.verify(captcha, remote_ip=ip)
        await limits.captcha_passed(self.redis, participant.id, self.settings)
        return None

    async def eta(self, record: SubmissionRecord) -> tuple[int | None, float | None]:
        """(queue position, estimated seconds to the score) of a waiting submission."""
        if record.status not in ("QUEUED", "GENERATING"):
            return None, None
        state, workers = await self.store.queue_and_workers(self.settings.worker_stale_s)
        return estimate(record, state, workers)

    async def workers_alive(self) -> int:
        horizon = time.time() - self.settings.worker_stale_s
        count: int = await self.redis.zcount(keys.WORKERS, horizon, "+inf")
        return count


def estimate(
    record: SubmissionRecord, state: QueueState, workers: int
) -> tuple[int | None, float | None]:
    """(queue position, estimated seconds to the score) of ``record`` in queue ``state``
    with ``workers`` live workers; (None, None) once it no longer waits."""
    if record.status == "GENERATING":
        return 0, round(state.job_seconds, 2)
    if record.status != "QUEUED":
        return None, None
    per_job = state.job_seconds / max(workers, 1)
    position = max(record.seq - state.started, 1)
    return position, round(position * per_job + state.job_seconds, 2)


async def ensure_current_event(store: Store, images: ImageStore, title: str) -> str:
    """Create the demo event, with the project's own target picture, if none is current."""
    current = await store.current_event_id()
    if current is not None:
        return current
    event_id = new_id()
    if not await store.redis.set(keys.CURRENT_EVENT, event_id, nx=True):
        return await store.current_event_id() or event_id  # another server won the race
    target_key = await put_target(images, store.redis, target_webp())
    await store.create_event(title, target_key, event_id=event_id)
    log.info("created demo event %s", event_id)
    return event_id


@asynccontextmanager
async def open_resources(settings: Settings) -> AsyncIterator[Resources]:
    """Connect to Redis, start the broadcaster, the results consumer and the metrics
    sampler, ensure an event and hand the workers its target."""
    client = async_client(settings.redis_url)
    store = Store(client, session_idle_s=settings.session_idle_s)
    images = ImageStore(settings.images_dir)
    try:
        await ensure_group(client)
        await ensure_current_event(store, images, settings.event_title)
        await share_targets(images, client, [e.target_key for e in await store.events()])
        async with (
            httpx.AsyncClient(timeout=5.0) as http,
            Broadcaster(client, store, settings) as broadcaster,
            consuming(
                settings.redis_url, store, images, claim_idle_ms=settings.job_claim_idle_ms
            ),
        ):
            sampler = asyncio.create_task(
                METRICS.sample_queue_forever(
                    client, interval_s=settings.metrics_interval_s, stale_s=settings.worker_stale_s
                )
            )
            resources = Resources(
                settings=settings,
                redis=client,
                store=store,
                broadcaster=broadcaster,
                images=images,
                captcha=make_verifier(settings, client, http),
            )
            # What start-up made (modules, the schema, these resources) lives as long as
            # the process: freezing it keeps it out of the cyclic GC's full collections,
            # which otherwise walk all of it and stall every request for tens of ms,
            # several times a second under load.
            gc.collect()
            gc.freeze()
            # Each request leaves reference cycles (strawberry's execution context holds
            # the request). Collecting the young generation every 20,000 allocations
            # instead of 700 lets most of a request's garbage die before it is promoted
            # to older generations, so collections run less often and walk less
            # (capacity 0.20-0.22x -> 0.23-0.26x the floor in back-to-back runs of
            # `python -m benchmarks.submit`, within a noisy machine's spread).
            gc.set_threshold(GC_YOUNG_THRESHOLD, 20, 20)
            try:
                yield resources
            finally:
                gc.unfreeze()
                gc.set_threshold(*DEFAULT_GC_THRESHOLD)
                sampler.cancel()
    finally:
        await client.aclose()

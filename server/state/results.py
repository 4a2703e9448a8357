"""The results consumer: applies what the GPU workers made of the jobs to the contest.

Workers write :class:`~pipelines.contract.Started`, :class:`~pipelines.contract.Result`
and :class:`~pipelines.contract.Failure` entries to the results stream (see
:mod:`pipelines.contract`). Every server process runs one :class:`ResultsConsumer` in
the consumer group ``keys.RESULTS_GROUP``, so any number of them share the work. Each
entry is applied (the picture stored, then the store's idempotent ``start_many`` /
``complete`` / ``fail``), then acknowledged and deleted; entries left pending by a
dead server are claimed (XAUTOCLAIM) by another after ``job_claim_idle_ms``. Applying
an entry twice changes nothing, so a server dying between applying and acknowledging
is harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import redis.asyncio

from pipelines.connection import RETRY_ON, async_client, ensure_group
from pipelines.contract import Failure, MessageError, Outcome, Result, Started, read_outcome
from server.state import keys
from server.state.pictures import ImageStore
from server.state.store import Store

log = logging.getLogger(__name__)

BATCH = 64  # entries read (and acknowledged) at a time
# How long a read waits for new entries: also how long stopping may take. (Cancelling a
# blocked XREADGROUP can leave redis-py reading its socket for good.)
BLOCK_MS = 250

Entry = tuple[str, Outcome | None]  # a stream entry id and its message (None: unreadable)


class ResultsConsumer:
    """Reads the results stream with its own bytes-mode client (pictures are bytes) and
    applies each entry through ``store``."""

    def __init__(
        self,
        client: redis.asyncio.Redis,
        store: Store,
        images: ImageStore,
        *,
        claim_idle_ms: int,
        name: str | None = None,
        batch: int = BATCH,
    ) -> None:
        self.redis = client
        self.store = store
        self.images = images
        self.claim_idle_ms = claim_idle_ms
        self.name = name or f"{socket.gethostname()}-{os.getpid()}-{id(self):x}"
        self.batch = batch
        self.applied = 0  # entries applied (a readable message each)

    async def run(self, stop: asyncio.Event) -> None:
        """Apply results until ``stop`` is set; outlive Redis outages and a Redis that
        comes back without the stream's consumer group."""
        backoff = 0.0
        grouped = False
        while not stop.is_set():
            try:
                if not grouped:
                    await ensure_group(self.redis, keys.RESULTS, keys.RESULTS_GROUP)
                    grouped = True
                await self.turn()
                backoff = 0.0
                continue
            except RETRY_ON as exc:
                if not backoff:
                    log.warning("results: redis unavailable (%s); retrying", exc)
            except redis.ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                log.warning("the results stream lost its consumer group (Redis lost its data?)")
                grouped = False
            backoff = min(backoff * 2 or 0.1, 5.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), backoff)

    async def turn(self, block_ms: int | None = BLOCK_MS) -> int:
        """Take a batch (stale entries of dead servers first), apply and acknowledge it;
        returns how many entries it took."""
        entries = await self._claim_stale()
        if not entries:
            entries = await self.read(block_ms)
        if entries:
            await self.apply(entries)
            await self.acknowledge([entry_id for entry_id, _ in entries])
        return len(entries)

    async def read(self, block_ms: int | None) -> list[Entry]:
        reply = await self.redis.xreadgroup(
            keys.RESULTS_GROUP, self.name, {keys.RESULTS: ">"}, count=self.batch, block=block_ms
        )
        return [_parse(entry_id, data) for entry_id, data in (reply[0][1] if reply else [])]

    async def _claim_stale(self) -> list[Entry]:
        reply = await self.redis.xautoclaim(
            keys.RESULTS,
            keys.RESULTS_GROUP,
            self.name,
            min_idle_time=self.claim_idle_ms,
            start_id="0-0",
            count=self.batch,
        )
        entries = [_parse(entry_id, data) for entry_id, data in reply[1] if data]
        if entries:
            log.warning("claimed %d result(s) left by a stopped server", len(entries))
        return entries

    async def apply(self, entries: Sequence[Entry]) -> None:
        """Apply entries in stream order; the pictures are written first, all at once."""
        results = [m for _, m in entries if isinstance(m, Result)]
        stored = await asyncio.gather(
            *(asyncio.to_thread(self.images.put, r.picture) for r in results)
        )
        picture_keys = dict(zip((id(r) for r in results), stored, strict=True))
        for _, message in entries:
            if isinstance(message, Started):
                await self.store.start_many(message.submission_ids)
            elif isinstance(message, Result):
                await self._complete(message, picture_keys[id(message)])
            elif isinstance(message, Failure) and message.submission_id:
                await self.store.fail(message.submission_id, message.reason)
            self.applied += message is not None

    async def _complete(self, result: Result, picture_key: str) -> None:
        done = await self.store.complete(
            result.submission_id,
            score=result.score,
            image_key=picture_key,
            model_version=result.model_version,
        )
        if done:  # a result applied again must not count its GPU time twice
            await self.store.record_job_seconds(result.gpu_seconds)

    async def acknowledge(self, entry_ids: Sequence[str]) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xack(keys.RESULTS, keys.RESULTS_GROUP, *entry_ids)
            pipe.xdel(keys.RESULTS, *entry_ids)
            await pipe.execute()


def _parse(entry_id: bytes | str, data: dict[bytes, bytes]) -> Entry:
    ident = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    try:
        return ident, read_outcome(data)
    except MessageError:
        log.exception("dropping unreadable result entry %s", ident)
        return ident, None


def _report_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.critical("the results consumer stopped: no score is applied", exc_info=exc)


@asynccontextmanager
async def consuming(
    redis_url: str, store: Store, images: ImageStore, *, claim_idle_ms: int
) -> AsyncIterator[ResultsConsumer]:
    """Run a :class:`ResultsConsumer` for the ``async with`` block (a server's lifespan)."""
    client = async_client(redis_url, decode=False)
    consumer = ResultsConsumer(client, store, images, claim_idle_ms=claim_idle_ms)
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop), name="results")
    task.add_done_callback(_report_crash)
    try:
        yield consumer
    finally:
        stop.set()
        with contextlib.suppress(Exception):  # already reported
            await task
        await client.aclose()

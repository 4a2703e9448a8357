"""The process-wide resources of a server, opened in the app's lifespan."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import redis.asyncio
from starlette.requests import HTTPConnection

from pipelines.worker import ensure_group
from server import keys
from server.broadcast import Broadcaster
from server.connection import async_client
from server.demo import target_webp
from server.ids import new_id
from server.images import ImageStore
from server.settings import Settings
from server.store import ParticipantRecord, Store

log = logging.getLogger(__name__)


@dataclass
class Resources:
    """Everything a request may use; one per server process."""

    settings: Settings
    redis: redis.asyncio.Redis
    store: Store
    broadcaster: Broadcaster
    images: ImageStore
    captcha: Any = None
    moderation: Any = None

    def client_ip(self, connection: HTTPConnection) -> str:
        return connection.client.host if connection.client else ""

    async def admit(self, participant: ParticipantRecord, captcha: str | None, ip: str) -> None:
        """Captcha, then rate limits; raises ApiError with the code the page shows."""
        return None

    async def workers_alive(self) -> int:
        horizon = time.time() - self.settings.worker_stale_s
        count: int = await self.redis.zcount(keys.WORKERS, horizon, "+inf")
        return count


async def ensure_current_event(store: Store, images: ImageStore, title: str) -> str:
    """Create the demo event, with the project's own target picture, if none is current."""
    current = await store.current_event_id()
    if current is not None:
        return current
    event_id = new_id()
    if not await store.redis.set(keys.CURRENT_EVENT, event_id, nx=True):
        return await store.current_event_id() or event_id  # another server won the race
    target_key = images.put(target_webp())
    await store.create_event(title, target_key, event_id=event_id)
    log.info("created demo event %s", event_id)
    return event_id


@asynccontextmanager
async def open_resources(settings: Settings) -> AsyncIterator[Resources]:
    """Connect to Redis, start the broadcaster, make sure an event exists."""
    client = async_client(settings.redis_url)
    store = Store(client)
    images = ImageStore(settings.images_dir)
    try:
        await ensure_group(client)
        await ensure_current_event(store, images, settings.event_title)
        async with httpx.AsyncClient(timeout=5.0) as http, Broadcaster(
            client, store, settings
        ) as broadcaster:
            yield Resources(
                settings=settings,
                redis=client,
                store=store,
                broadcaster=broadcaster,
                images=images,
            )
    finally:
        await client.aclose()

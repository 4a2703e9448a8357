"""The board: the one Redis pub/sub listener of a server process, and board snapshots.

Pub/sub messages are only hints that something changed; the state is always re-read
from Redis. Each event's leaderboard snapshot is computed once per change (coalesced to
at most one refresh per ``leaderboard_push_interval_ms``) and shared by every local
subscriber, whatever ``first`` it asked for. After a lost connection every feed is
refreshed and every submission watcher woken, so nothing stays stale.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, replace
from types import TracebackType
from typing import Any

import redis.asyncio

from server.settings import Settings
from server.state import keys
from server.state.board import BoardEntry
from server.state.events import Counts
from server.state.store import Store
from server.state.submissions import SubmissionRecord

log = logging.getLogger(__name__)

SAFETY_REFRESH_S = 5.0  # re-read boards with subscribers even if a message was lost
LATEST_SHOWN = 12  # latest drawings on a board


@dataclass(frozen=True)
class Snapshot:
    """One computed state of an event's board, shared by all local subscribers."""

    event_id: str
    entries: list[BoardEntry]
    latest: list[SubmissionRecord]
    counts: Counts
    updated_at: float
    version: int
    stale: bool = False  # Redis is out of reach: the last known board, saying so


class Signal:
    """A level-triggered wake-up: ``wait`` returns once ``fire`` was called after ``seen``."""

    def __init__(self) -> None:
        self.version = 0
        self._event = asyncio.Event()

    def fire(self) -> None:
        self.version += 1
        event, self._event = self._event, asyncio.Event()
        event.set()

    async def wait(self, seen: int) -> int:
        while self.version == seen:
            await self._event.wait()
        return self.version


class BoardFeed:
    """The coalesced, shared leaderboard state of one event in this process."""

    def __init__(self, event_id: str, broadcaster: Broadcaster) -> None:
        self.event_id = event_id
        self._owner = broadcaster
        self.snapshot: Snapshot | None = None
        self.signal = Signal()
        self.subscribers = 0
        self._dirty = True
        self._task: asyncio.Task[None] | None = None
        self._last_refresh = 0.0

    def poke(self) -> None:
        """Something changed: schedule one refresh, never more than one in flight."""
        self._dirty = True
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._refresh_loop())

    def mark_stale(self) -> None:
        """Redis is out of reach: tell every screen that it shows the last known board."""
        if self.snapshot is not None and not self.snapshot.stale:
            version = self.signal.version + 1
            self.snapshot = replace(self.snapshot, stale=True, version=version)
            self.signal.fire()

    async def current(self) -> Snapshot:
        if self.snapshot is None:
            self.poke()
            while self.snapshot is None:
                await self.signal.wait(self.signal.version)
        return self.snapshot

    async def _refresh_loop(self) -> None:
        interval = self._owner.settings.leaderboard_push_interval_ms / 1000
        while self._dirty:
            delay = self._last_refresh + interval - time.monotonic()
            if delay > 0 and self.snapshot is not None:
                await asyncio.sleep(delay)  # coalescing window, not synchronisation
            self._dirty = False
            self._last_refresh = time.monotonic()
            try:
                self.snapshot = await self._owner.compute(self.event_id, self.signal.version + 1)
            except redis.RedisError:
                log.warning("leaderboard refresh of %s failed; retrying", self.event_id)
                self.mark_stale()
                self._dirty = True
                await asyncio.sleep(interval)
                continue
            self.signal.fire()


class Broadcaster:
    """Owns the listener task; hands out board feeds and submission wake-ups."""

    def __init__(self, client: redis.asyncio.Redis, store: Store, settings: Settings) -> None:
        self.redis = client
        self.store = store
        self.settings = settings
        self.feeds: dict[str, BoardFeed] = {}
        self._submissions: dict[str, Signal] = {}
        self._watchers: defaultdict[str, int] = defaultdict(int)
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()
        self.current_changed = Signal()  # the current event may have changed

    async def __aenter__(self) -> Broadcaster:
        self._task = asyncio.create_task(self._listen())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        tasks = [self._task] + [f._task for f in self.feeds.values()]
        for task in tasks:
            if task is not None:
                task.cancel()
        for task in tasks:
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def compute(self, event_id: str, version: int, *, live: bool = False) -> Snapshot:
        """The event's public board (frozen while frozen, the prompts revealed so far),
        or with ``live`` the live standings whatever the public sees (organisers')."""
        top = self.settings.leaderboard_max_first
        prompts = 0
        if not live:
            event = await self.store.event(event_id)
            prompts = event.prompts_public(self.settings.reveal_prompts_on_close)
        entries = await self.store.leaderboard(event_id, top, live=live, prompts=prompts)
        latest = await self.store.recent(event_id, LATEST_SHOWN, live=live)
        counts = await self.store.counts(event_id)
        return Snapshot(event_id, entries, latest, counts, time.time(), version)

    def feed(self, event_id: str) -> BoardFeed:
        if event_id not in self.feeds:
            self.feeds[event_id] = BoardFeed(event_id, self)
        return self.feeds[event_id]

    async def board_updates(self, event_id: str) -> AsyncGenerator[Snapshot, None]:
        """The current snapshot, then each new one; shared computation per process."""
        feed = self.feed(event_id)
        feed.subscribers += 1
        try:
            snapshot = await feed.current()
            seen = snapshot.version
            yield snapshot
            while True:
                await feed.signal.wait(seen)
                assert feed.snapshot is not None
                seen = feed.snapshot.version
                yield feed.snapshot
        finally:
            feed.subscribers -= 1

    async def current_board_updates(self) -> AsyncIterator[Snapshot]:
        """Like :meth:`board_updates` for whichever event is current, switching with it."""
        while True:
            seen = self.current_changed.version
            event_id = await self.store.current_event_id()
            if event_id is None:
                await self.current_changed.wait(seen)
                continue
            async for snapshot in self._until_current_changes(event_id, seen):
                yield snapshot

    async def _until_current_changes(self, event_id: str, seen: int) -> AsyncIterator[Snapshot]:
        updates = self.board_updates(event_id)
        update: asyncio.Future[Snapshot] | None = None
        switch: asyncio.Future[int] | None = None
        try:
            while True:
                if update is None:
                    update = asyncio.ensure_future(anext(updates))
                switch = asyncio.ensure_future(self.current_changed.wait(seen))
                racing: list[asyncio.Future[Any]] = [update, switch]
                await asyncio.wait(racing, return_when=asyncio.FIRST_COMPLETED)
                if update.done():
                    switch.cancel()
                    snapshot, update = update.result(), None
                    yield snapshot
                    continue
                seen = self.current_changed.version
                if await self.store.current_event_id() != event_id:
                    return
        finally:
            for pending in (update, switch):
                if pending is not None and not pending.done():
                    pending.cancel()
                    with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                        await pending
            await updates.aclose()

    async def submission_changes(self, submission_id: str) -> AsyncIterator[None]:
        """Yields once at once, then whenever the submission may have changed."""
        signal = self._submissions.setdefault(submission_id, Signal())
        self._watchers[submission_id] += 1
        try:
            seen = signal.version
            yield None
            while True:
                seen = await signal.wait(seen)
                yield None
        finally:
            self._watchers[submission_id] -= 1
            if self._watchers[submission_id] <= 0:
                del self._watchers[submission_id]
                self._submissions.pop(submission_id, None)

    def subscriber_count(self) -> int:
        return sum(f.subscribers for f in self.feeds.values()) + sum(self._watchers.values())

    def _dispatch(self, channel: str) -> None:
        kind, ident = keys.parse_channel(channel)
        if kind == "current":
            self.current_changed.fire()
        elif kind == "event" and ident in self.feeds:
            self.feeds[ident].poke()
        elif kind == "submission" and ident in self._submissions:
            self._submissions[ident].fire()

    def _reconnected(self, connection: object) -> None:
        log.info("pub/sub reconnected; re-reading boards and submissions")
        self._wake_all()

    def _wake_all(self) -> None:
        self.current_changed.fire()
        for feed in self.feeds.values():
            feed.poke()
        for signal in self._submissions.values():
            signal.fire()

    async def _listen(self) -> None:
        backoff = 0.1
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.psubscribe(keys.CHANNEL_PATTERN)
                # redis-py's retry also reconnects (and resubscribes) by itself, silently:
                # messages sent meanwhile are lost, so re-read everything then too.
                pubsub.connection.register_connect_callback(self._reconnected)
                self.connected.set()
                backoff = 0.1
                self._wake_all()  # anything may have changed while we were away
                while True:
                    message = await pubsub.get_message(timeout=SAFETY_REFRESH_S)
                    if message is None:
                        for feed in self.feeds.values():
                            if feed.subscribers:
                                feed.poke()
                        continue
                    self._dispatch(message["channel"])
            except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
                self.connected.clear()
                log.warning("pub/sub connection lost (%s); reconnecting", exc)
                for feed in self.feeds.values():
                    feed.mark_stale()
                await asyncio.sleep(backoff)  # reconnect backoff
                backoff = min(backoff * 2, 5.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

"""Events: the :class:`EventRecord`, its phase (taking entries or not), its counters, and
the :class:`Events` part of the store that creates, lists and changes events."""

from __future__ import annotations

import functools
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, cast

from server.ids import new_id
from server.state import keys
from server.state.part import NotFound, Part, num, optional_float, pairs
from server.state.scripts import Script, lua

Phase = Literal["SCHEDULED", "OPEN", "CLOSED"]


@dataclass(frozen=True)
class EventRecord:
    id: str
    title: str
    target_key: str
    status: Literal["OPEN", "CLOSED"]  # as set by an organiser; see ``phase``
    created_at: float
    # Whether it took entries when it was read: its status and its schedule, by the one
    # rule that the submission script applies too (server/state/lua/phase.lua).
    phase: Phase
    # Whether the public saw frozen standings when it was read, by the one rule that the
    # board reads apply too (server/state/lua/frozen.lua).
    frozen: bool
    opens_at: float | None = None
    closes_at: float | None = None
    hold_for_review: bool = False  # new drawings reach the public board once approved
    frozen_at: float | None = None  # the public board shows the standings of this time
    revealed_top: int = 0  # the prompts of the best this many are public (organiser reveal)
    join_captcha: bool = False  # joining needs a solved captcha

    def prompts_public(self, on_close: int) -> int:
        """How many of the best entries show their prompts: the organisers' reveal, or once
        the event is closed the ``on_close`` setting (0: none)."""
        if self.revealed_top:
            return self.revealed_top
        return on_close if self.phase == "CLOSED" else 0

    @classmethod
    def from_hash(cls, data: dict[str, str], phase: str, frozen: int) -> EventRecord:
        """The record of an event's hash, with its ``phase`` and whether it is ``frozen``
        (1 or 0) as a script read them."""
        return cls(
            id=data["id"],
            title=data["title"],
            target_key=data["target_key"],
            status="CLOSED" if data.get("status") == "CLOSED" else "OPEN",
            created_at=float(data["created_at"]),
            phase=cast(Phase, phase),
            frozen=bool(frozen),
            opens_at=optional_float(data.get("opens_at")),
            closes_at=optional_float(data.get("closes_at")),
            hold_for_review=data.get("hold") == "1",
            frozen_at=optional_float(data.get("frozen_at")),
            revealed_top=int(data.get("revealed_top") or 0),
            join_captcha=data.get("join_captcha") == "1",
        )


@dataclass(frozen=True)
class Counts:
    participants: int
    submissions: int
    drawings: int
    # Read with the counters, by server/state/lua/frozen.lua, so that a board snapshot
    # knows whether it shows frozen standings (server.live.board builds snapshots from
    # these reads alone).
    frozen: bool = False


class Events(Part):
    """Creating, reading and changing events, and which one is current."""

    @functools.cached_property
    def _read_events_script(self) -> Script:
        return self.scripts.register(lua("phase", "frozen", "read_events"))

    @functools.cached_property
    def _read_counts_script(self) -> Script:
        return self.scripts.register(lua("frozen", "read_counts"))

    async def create_event(
        self,
        title: str,
        target_key: str,
        *,
        current: bool = True,
        event_id: str | None = None,
        opens_at: float | None = None,
        closes_at: float | None = None,
        hold_for_review: bool = False,
        join_captcha: bool = False,
    ) -> str:
        event_id = event_id or new_id()
        now = time.time()
        fields = {
            "id": event_id,
            "title": title,
            "target_key": target_key,
            "status": "OPEN",
            "created_at": num(now),
            "hold": "1" if hold_for_review else "0",
            "join_captcha": "1" if join_captcha else "0",
            # Mixed into every drawing's seed (server-side only): see the submission script.
            "seed_secret": secrets.token_hex(16),
        }
        for name, value in (("opens_at", opens_at), ("closes_at", closes_at)):
            if value is not None:
                fields[name] = num(value)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys.event(event_id), mapping=fields)
            pipe.zadd(keys.EVENTS, {event_id: now})
            if current:
                pipe.set(keys.CURRENT_EVENT, event_id)
                pipe.publish(keys.CURRENT_CHANNEL, event_id)
            await pipe.execute()
        return event_id

    async def current_event_id(self) -> str | None:
        return cast(str | None, await self.redis.get(keys.CURRENT_EVENT))

    async def set_current_event(self, event_id: str) -> None:
        await self.event(event_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(keys.CURRENT_EVENT, event_id)
            pipe.publish(keys.CURRENT_CHANNEL, event_id)
            await pipe.execute()

    async def event(self, event_id: str) -> EventRecord:
        found = await self._read_events([event_id])
        if not found:
            raise NotFound(f"no event {event_id!r}")
        return found[0]

    async def events(self) -> list[EventRecord]:
        """Every event, oldest first."""
        return await self._read_events(await self.redis.zrange(keys.EVENTS, 0, -1))

    async def _read_events(self, ids: Sequence[str]) -> list[EventRecord]:
        """The events of ``ids`` that exist, each with its phase now, in one round trip."""
        if not ids:
            return []
        reply = await self._read_events_script(
            keys=[keys.event(event_id) for event_id in ids], args=[num(time.time())]
        )
        return [
            EventRecord.from_hash(pairs(flat), phase, frozen)
            for flat, phase, frozen in cast(list[tuple[list[str], str, int]], reply)
            if flat
        ]

    async def update_event(self, event_id: str, changes: Mapping[str, str | None]) -> None:
        """Set event hash fields (None removes one) and tell every open board."""
        await self.event(event_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            for name, value in changes.items():
                if value is None:
                    pipe.hdel(keys.event(event_id), name)
                else:
                    pipe.hset(keys.event(event_id), name, value)
            pipe.publish(keys.event_channel(event_id), "event")
            await pipe.execute()

    async def set_event_status(self, event_id: str, status: Literal["OPEN", "CLOSED"]) -> None:
        await self.update_event(event_id, {"status": status})

    async def counts(self, event_id: str) -> Counts:
        """An event's counters, and whether its public board is frozen now."""
        flat, frozen = cast(
            tuple[list[str], int],
            await self._read_counts_script(
                keys=[keys.event_counts(event_id), keys.event(event_id)],
                args=[num(time.time())],
            ),
        )
        data = pairs(flat)
        return Counts(
            participants=int(data.get("participants", 0)),
            submissions=int(data.get("submissions", 0)),
            drawings=int(data.get("drawings", 0)),
            frozen=bool(frozen),
        )

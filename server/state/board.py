"""The leaderboard as read: :class:`BoardEntry`, the public (possibly frozen) and live
boards, the latest drawings, a participant's standing, and freezing the standings.

How results reach a board, and who may be on one: ``server/state/lua/leaderboard.lua``.
Members are UUIDv7 submission ids and scores are negated: ZRANGE 0..N is best-first and
equal scores fall back to lexicographic member order, which is time order.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import Literal, cast

from server.state import keys
from server.state.events import Events
from server.state.part import num
from server.state.scripts import Script, lua
from server.state.submissions import SubmissionRecord, read_submissions


@dataclass(frozen=True)
class BoardEntry:
    submission_id: str
    participant_id: str
    nickname: str
    score: float
    image_key: str
    rank: int
    prompt: str | None = None  # only when the organisers revealed it


class FreezeRace(RuntimeError):
    """The frozen board kept changing while being read (a freeze and unfreeze racing)."""


class Board(Events):
    """Reading the boards, and freezing the public one (which changes the event)."""

    @functools.cached_property
    def _build_frozen(self) -> Script:
        return self.scripts.register(lua("keys", "leaderboard", "frozen", "build_frozen"))

    @functools.cached_property
    def _read(self) -> Script:
        return self.scripts.register(lua("frozen", "read_board"))

    @functools.cached_property
    def _standing(self) -> Script:
        return self.scripts.register(lua("frozen", "standing"))

    async def leaderboard(
        self, event_id: str, first: int | None, *, live: bool = False, prompts: int = 0
    ) -> list[BoardEntry]:
        """The best ``first`` entries (None: all) of an event's board, best first; the
        best ``prompts`` of them with their prompts.

        The public board (frozen from the freeze time on), or with ``live`` the live one.
        """
        if first is not None and first <= 0:
            return []
        stop = -1 if first is None else first - 1
        flat = await self._read_board(event_id, "zset", stop, live=live)
        rows = list(zip(flat[::2], flat[1::2], strict=True))
        if not rows:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for sid, _ in rows:
                pipe.hmget(keys.submission(sid), "participant_id", "nickname", "image_key",
                           "prompt")  # fmt: skip
            details = cast(list[list[str | None]], await pipe.execute())
        return [
            BoardEntry(
                submission_id=sid,
                participant_id=pid or "",
                nickname=nickname or "",
                score=-float(score),
                image_key=image or "",
                rank=index + 1,
                prompt=prompt if index < prompts else None,
            )
            for index, ((sid, score), (pid, nickname, image, prompt)) in enumerate(
                zip(rows, details, strict=True)
            )
        ]

    async def recent(
        self, event_id: str, first: int, *, live: bool = False
    ) -> list[SubmissionRecord]:
        """The latest drawings the public may see, newest first.

        Hidden ones, ones held for review and banned or staff participants' ones are left
        out; from the freeze time on (unless ``live``), only those finished before it.
        """
        if first <= 0:
            return []
        ids = await self._read_board(event_id, "list", keys.RECENT_KEPT - 1, live=live)
        records = [r for r in await read_submissions(self.redis, ids) if r.shown]
        unranked = await self.unranked({r.participant_id for r in records})
        return [r for r in records if r.participant_id not in unranked][:first]

    async def unranked(self, participant_ids: set[str]) -> set[str]:
        """Those of ``participant_ids`` who never appear publicly: banned or staff."""
        ordered = sorted(participant_ids)
        async with self.redis.pipeline(transaction=False) as pipe:
            for ident in ordered:
                pipe.hmget(keys.participant(ident), "banned", "staff")
            flags = cast(list[list[str | None]], await pipe.execute())
        return {ident for ident, flag in zip(ordered, flags, strict=True) if "1" in flag}

    async def standing(
        self, event_id: str, participant_id: str, *, live: bool = False
    ) -> tuple[float, int] | None:
        """(best score, 1-based rank) of a participant, or None when not on the board.

        The public standing (frozen from the freeze time on), or with ``live`` the live one.
        """
        for _ in range(3):
            reply = await self._standing(
                keys=[
                    keys.event(event_id),
                    keys.best(event_id),
                    keys.board(event_id),
                    keys.frozen_best(event_id),
                    keys.frozen_board(event_id),
                ],
                args=[num(time.time()), participant_id, "live" if live else "public"],
            )
            if reply[0] == "OK":
                return (-float(reply[1]), int(reply[2]) + 1) if len(reply) == 3 else None
            await self.build_frozen(event_id)
        raise FreezeRace(f"the frozen board of {event_id} kept changing while being read")

    async def freeze(self, event_id: str, at: float) -> None:
        """Show the public the standings of time ``at`` (past or future) until unfrozen."""
        await self.update_event(event_id, {"frozen_at": num(at), "frozen_built": None})
        await self.build_frozen(event_id)

    async def unfreeze(self, event_id: str) -> None:
        """Show the public the live standings again."""
        await self.update_event(event_id, {"frozen_at": None, "frozen_built": None})
        await self.redis.delete(*self._frozen_keys(event_id))

    async def build_frozen(self, event_id: str) -> bool:
        """Build the frozen board if its time has come and it is not built; idempotent."""
        built = await self._build_frozen(
            keys=[
                keys.event(event_id),
                keys.nicknames(event_id),
                *self._frozen_keys(event_id)[:2],
                keys.recent(event_id),
                keys.frozen_recent(event_id),
            ],
            args=[keys.LUA_KEY_FORMATS, num(time.time())],
        )
        if built:
            await self.redis.publish(keys.event_channel(event_id), "frozen")
        return bool(built)

    @staticmethod
    def _frozen_keys(event_id: str) -> tuple[str, str, str]:
        return keys.frozen_board(event_id), keys.frozen_best(event_id), keys.frozen_recent(event_id)

    async def _read_board(
        self, event_id: str, kind: Literal["zset", "list"], stop: int, *, live: bool
    ) -> list[str]:
        """Items of the public (frozen, from the freeze time on) or live board or list."""
        live_key, frozen_key = (
            (keys.board(event_id), keys.frozen_board(event_id))
            if kind == "zset"
            else (keys.recent(event_id), keys.frozen_recent(event_id))
        )
        for _ in range(3):
            reply = await self._read(
                keys=[keys.event(event_id), live_key, frozen_key],
                args=[num(time.time()), kind, stop, "live" if live else "public"],
            )
            if reply[0] == "OK":
                return cast(list[str], reply[1])
            await self.build_frozen(event_id)
        raise FreezeRace(f"the frozen board of {event_id} kept changing while being read")

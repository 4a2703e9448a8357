"""Raffles that anyone can re-run: K winners among the top N eligible participants.

1. **Prepare**: the candidates are fixed (the top N of the live board, or everyone on
   it; staff, banned participants and hidden or unapproved drawings are never on it)
   and the seed is chosen (given by the organiser, e.g. called out by the audience, or
   random) and shown, before anything is drawn.
2. **Draw**: each candidate's ticket is ``sha256("<seed>:<participant id>")`` in hex;
   candidates in ticket order are the draw order, and the first K win.
3. **Redraw**: absent winners are struck out; the next in draw order take their places.

So the result depends only on the seed, the candidate ids and the absentees::

    order = sorted(ids, key=lambda i: hashlib.sha256(f"{seed}:{i}".encode()).hexdigest())
    winners = [i for i in order if i not in absent][:count]
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal, cast

import redis.asyncio

from server.errors import invalid_input
from server.ids import new_id
from server.organiser.inputs import clean_text
from server.state import keys
from server.state.part import NotFound
from server.state.store import Store

SEED_MAX_CHARS = 100
RaffleStatus = Literal["PREPARED", "DRAWN"]


def ticket(seed: str, participant_id: str) -> str:
    """A candidate's place in the draw: the hex SHA-256 of ``"<seed>:<participant id>"``."""
    return hashlib.sha256(f"{seed}:{participant_id}".encode()).hexdigest()


def draw_order(seed: str, participant_ids: Iterable[str]) -> list[str]:
    """Every candidate, in the order the seed draws them."""
    return sorted(participant_ids, key=lambda ident: ticket(seed, ident))


def pick_winners(
    seed: str, participant_ids: Iterable[str], count: int, absent: Iterable[str] = ()
) -> list[str]:
    """The first ``count`` of the draw order, absentees struck out."""
    skipped = set(absent)
    return [i for i in draw_order(seed, participant_ids) if i not in skipped][:count]


@dataclass(frozen=True)
class Candidate:
    participant_id: str
    nickname: str
    rank: int  # on the live board when the raffle was prepared
    score: float


@dataclass(frozen=True)
class Raffle:
    id: str
    event_id: str
    seed: str
    count: int
    top: int | None  # None: every eligible participant
    candidates: list[Candidate]  # in board order
    created_at: float
    status: RaffleStatus = "PREPARED"
    absent: list[str] = field(default_factory=list)
    drawn_at: float | None = None

    @property
    def winners(self) -> list[Candidate]:
        """The winners in draw order; empty until drawn."""
        if self.status != "DRAWN":
            return []
        by_id = {c.participant_id: c for c in self.candidates}
        ids = pick_winners(self.seed, by_id, self.count, self.absent)
        return [by_id[i] for i in ids]

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, raw: str) -> Raffle:
        data: dict[str, Any] = json.loads(raw)
        data["candidates"] = [Candidate(**c) for c in data["candidates"]]
        return cls(**data)

    def summary(self) -> dict[str, Any]:
        """What the audit log keeps of a raffle: enough to re-run it."""
        return {
            "seed": self.seed,
            "count": self.count,
            "top": self.top,
            "candidates": [c.participant_id for c in self.candidates],
            "absent": self.absent,
            "winners": [c.participant_id for c in self.winners],
            "status": self.status,
        }


class Raffles:
    """Raffles of events, kept in Redis as JSON."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.redis: redis.asyncio.Redis = store.redis

    async def prepare(
        self, event_id: str, *, count: int, top: int | None, seed: str | None
    ) -> Raffle:
        """Fix the candidates and the seed; nothing is drawn yet."""
        if count < 1:
            raise invalid_input(f"expected at least 1 winner, got {count}", field="count")
        if top is not None and top < count:
            raise invalid_input(
                f"expected top ({top}) to be at least the number of winners ({count})",
                field="top",
            )
        chosen = secrets.token_hex(8) if seed is None else clean_text(seed, SEED_MAX_CHARS, "seed")
        entries = await self.store.leaderboard(event_id, top, live=True)
        if len(entries) < count:
            raise invalid_input(
                f"only {len(entries)} eligible participants for {count} winners",
                reason="too_few_candidates",
                field="count",
            )
        raffle = Raffle(
            id=new_id(),
            event_id=event_id,
            seed=chosen,
            count=count,
            top=top,
            candidates=[
                Candidate(e.participant_id, e.nickname, e.rank, e.score) for e in entries
            ],
            created_at=time.time(),
        )
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(keys.raffle(raffle.id), raffle.to_json())
            pipe.rpush(keys.raffles(event_id), raffle.id)
            await pipe.execute()
        return raffle

    async def get(self, raffle_id: str) -> Raffle:
        raw = cast(str | None, await self.redis.get(keys.raffle(raffle_id)))
        if raw is None:
            raise NotFound(f"no raffle {raffle_id!r}")
        return Raffle.from_json(raw)

    async def of_event(self, event_id: str) -> list[Raffle]:
        ids = cast(list[str], await self.redis.lrange(keys.raffles(event_id), 0, -1))
        return [await self.get(i) for i in ids]

    async def draw(self, raffle_id: str) -> Raffle:
        """Draw a prepared raffle (drawing it again changes nothing)."""
        raffle = await self.get(raffle_id)
        if raffle.status == "DRAWN":
            return raffle
        return await self._save(replace(raffle, status="DRAWN", drawn_at=time.time()))

    async def redraw(self, raffle_id: str, absent: Sequence[str]) -> Raffle:
        """Strike out absent winners; the next in draw order take their places."""
        raffle = await self.get(raffle_id)
        if raffle.status != "DRAWN":
            raise invalid_input("draw the raffle before redrawing", reason="not_drawn")
        winners = {c.participant_id for c in raffle.winners}
        strangers = sorted(set(absent) - winners)
        if strangers:
            raise invalid_input(
                f"only current winners can be absent; not winners: {', '.join(strangers)}",
                field="absent",
            )
        left = len(raffle.candidates) - len(raffle.absent) - len(set(absent))
        if left < 1:
            raise invalid_input("nobody is left to draw", reason="too_few_candidates")
        merged = [*raffle.absent, *sorted(set(absent) - set(raffle.absent))]
        return await self._save(replace(raffle, absent=merged, drawn_at=time.time()))

    async def _save(self, raffle: Raffle) -> Raffle:
        await self.redis.set(keys.raffle(raffle.id), raffle.to_json())
        return raffle

"""Participants: the :class:`ParticipantRecord`, sessions and claim codes, and the
:class:`Participants` part of the store that joins players and finds them again."""

from __future__ import annotations

import functools
import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import cast

from server.ids import new_id
from server.state import keys
from server.state.events import EventRecord
from server.state.part import Part, num, pairs
from server.state.scripts import Script, lua

SESSION_IDLE_S = 24 * 3600.0  # a participant session unused this long expires
# Claim codes: no 0/O, 1/I/L or 5/S, to read out loud across a noisy booth.
CLAIM_ALPHABET = "ABCDEFGHJKMNPQRTUVWXYZ2346789"
CLAIM_CODE_LENGTH = 6


@dataclass(frozen=True)
class ParticipantRecord:
    id: str
    event_id: str
    nickname: str
    created_at: float
    staff: bool = False  # plays normally, never ranked or exported
    banned: bool = False
    claim_code: str = ""  # shown on the phone; booth staff match it to hand over a prize
    contact: str = ""  # given at join with consent; only the winners export has it

    @classmethod
    def from_hash(cls, data: dict[str, str]) -> ParticipantRecord:
        return cls(
            id=data["id"],
            event_id=data["event_id"],
            nickname=data["nickname"],
            created_at=float(data["created_at"]),
            staff=data.get("staff") == "1",
            banned=data.get("banned") == "1",
            claim_code=data.get("claim_code", ""),
            contact=data.get("contact", ""),
        )


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Participants(Part):
    """Joining an event, and reading participants by id, session, event or claim code."""

    @functools.cached_property
    def _caller(self) -> Script:
        return self.scripts.register(lua("keys", "phase", "frozen", "caller"))

    async def join(
        self, event_id: str, nickname: str, nickname_key: str, *, contact: str = ""
    ) -> tuple[ParticipantRecord, str] | None:
        """Create a participant and a session token; None when the nickname is taken.

        ``contact`` is stored only when given (the caller checked the consent).
        """
        participant_id = new_id()
        if not await self.redis.hsetnx(keys.nicknames(event_id), nickname_key, participant_id):
            return None
        claim_code = await self._claim_code(event_id, participant_id)
        token = secrets.token_urlsafe(32)
        now = time.time()
        fields = {
            "id": participant_id,
            "event_id": event_id,
            "nickname": nickname,
            "created_at": num(now),
            "claim_code": claim_code,
        }
        if contact:
            fields["contact"] = contact
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys.participant(participant_id), mapping=fields)
            pipe.set(keys.session(hash_token(token)), participant_id, ex=round(self.session_idle_s))
            pipe.hincrby(keys.event_counts(event_id), "participants", 1)
            await pipe.execute()
        await self.redis.publish(keys.event_channel(event_id), "joined")
        return ParticipantRecord.from_hash(fields), token

    async def _claim_code(self, event_id: str, participant_id: str) -> str:
        """A short code unique within the event, for handing over a prize."""
        while True:
            code = "".join(secrets.choice(CLAIM_ALPHABET) for _ in range(CLAIM_CODE_LENGTH))
            if await self.redis.hsetnx(keys.claim_codes(event_id), code, participant_id):
                return code

    async def participant_for_token(self, token: str) -> ParticipantRecord | None:
        found = await self.caller(token)
        return None if found is None else found[0]

    async def caller(self, token: str) -> tuple[ParticipantRecord, EventRecord | None] | None:
        """The participant of a session token and its event (None if gone), read together
        in one round trip; None for an unknown token."""
        reply = await self._caller(
            keys=[keys.session(hash_token(token))],
            args=[keys.LUA_KEY_FORMATS, round(self.session_idle_s), num(time.time())],
        )
        if not reply:
            return None
        participant, event, phase, frozen = cast(tuple[list[str], list[str], str, int], reply)
        return (
            ParticipantRecord.from_hash(pairs(participant)),
            EventRecord.from_hash(pairs(event), phase, frozen) if event else None,
        )

    async def participant(self, participant_id: str) -> ParticipantRecord | None:
        data = cast(dict[str, str], await self.redis.hgetall(keys.participant(participant_id)))
        return ParticipantRecord.from_hash(data) if data else None

    async def participants(self, event_id: str) -> list[ParticipantRecord]:
        """Every participant of an event, in joining order."""
        ids = cast(list[str], await self.redis.hvals(keys.nicknames(event_id)))
        async with self.redis.pipeline(transaction=False) as pipe:
            for ident in sorted(ids):
                pipe.hgetall(keys.participant(ident))
            rows = cast(list[dict[str, str]], await pipe.execute())
        return [ParticipantRecord.from_hash(row) for row in rows if row]

    async def participant_by_claim_code(self, event_id: str, code: str) -> ParticipantRecord | None:
        ident = cast(str | None, await self.redis.hget(keys.claim_codes(event_id), code.upper()))
        return None if ident is None else await self.participant(ident)

"""The audit log: every organiser action, who took it, when, and what it changed.

Entries go to one Redis stream (``keys.AUDIT``) that is never trimmed; what outsiders can
repeat at will (failed logins) is listed only so many times an hour and counted beyond.
Stream ids are time-ordered, so the log lists newest first with XREVRANGE and pages by
entry id.
``before`` and ``after`` are JSON values: the state an action found and the one it left.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import asdict, dataclass
from typing import Any, cast

import redis.asyncio

from server.errors import invalid_input
from server.state import keys

JsonValue = Any  # what json.loads returns
PAGE = 200  # stream entries read per round trip while filtering by event
COUNT_TTL_S = 2 * 3600  # an hour's count of a capped action outlives its hour
_ENTRY_ID = re.compile(r"[0-9]{1,20}-[0-9]{1,20}")  # a Redis stream id: ms-sequence


def entry_id(value: str) -> str:
    """``value`` if it is an entry id (what ``before`` pages by); else INVALID_INPUT."""
    if not _ENTRY_ID.fullmatch(value):
        raise invalid_input(f"an audit entry id looks like 1700000000000-0, not {value[:40]!r}")
    return value


@dataclass(frozen=True)
class Actor:
    """Who acts: the name an organiser logged in with, and from where (address or cli)."""

    name: str
    source: str


@dataclass(frozen=True)
class AuditEntry:
    id: str  # the stream entry id: time-ordered
    at: float
    who: str
    source: str
    action: str  # e.g. "submission.hide", "event.create", "raffle.draw"
    event_id: str
    target: str  # id of what was acted on ("" for the installation)
    before: JsonValue
    after: JsonValue

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_fields(cls, entry_id: str, data: dict[str, str]) -> AuditEntry:
        return cls(
            id=entry_id,
            at=float(data["at"]),
            who=data["who"],
            source=data.get("source", ""),
            action=data["action"],
            event_id=data.get("event_id", ""),
            target=data.get("target", ""),
            before=json.loads(data.get("before", "null")),
            after=json.loads(data.get("after", "null")),
        )


class AuditLog:
    """Append and read organiser actions."""

    def __init__(self, client: redis.asyncio.Redis) -> None:
        self.redis = client

    async def record(
        self,
        actor: Actor,
        action: str,
        *,
        event_id: str = "",
        target: str = "",
        before: JsonValue = None,
        after: JsonValue = None,
    ) -> AuditEntry:
        """Append one action; ``before`` and ``after`` must be JSON-serialisable."""
        fields = {
            "at": repr(time.time()),
            "who": actor.name,
            "source": actor.source,
            "action": action,
            "event_id": event_id,
            "target": target,
            "before": json.dumps(before, sort_keys=True),
            "after": json.dumps(after, sort_keys=True),
        }
        entry_id = cast(str, await self.redis.xadd(keys.AUDIT, fields))
        return AuditEntry.from_fields(entry_id, fields)

    async def record_capped(
        self, actor: Actor, action: str, *, per_hour: int
    ) -> AuditEntry | None:
        """Append ``action`` unless it was appended ``per_hour`` times this hour already;
        the rest are only counted (the last entry of the hour says how many so far).

        For what outsiders can repeat at will (failed logins): they must not grow the
        log, which is never trimmed, without bound."""
        hour = int(time.time() // 3600)
        key = keys.audit_count(action, hour)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, COUNT_TTL_S)
            count, _ = await pipe.execute()
        if int(count) > per_hour:
            return None
        return await self.record(actor, action, after={"thisHour": int(count)})

    async def entries(
        self, *, event_id: str | None = None, first: int = 50, before: str | None = None
    ) -> list[AuditEntry]:
        """Up to ``first`` entries, newest first, older than entry id ``before`` if given,
        of one event if ``event_id`` is given."""
        found: list[AuditEntry] = []
        upper = "+" if before is None else f"({entry_id(before)}"
        while len(found) < first:
            rows = cast(
                list[tuple[str, dict[str, str]]],
                await self.redis.xrevrange(keys.AUDIT, max=upper, min="-", count=PAGE),
            )
            found += [
                entry
                for entry in (AuditEntry.from_fields(i, data) for i, data in rows)
                if event_id is None or entry.event_id == event_id
            ]
            if len(rows) < PAGE:
                break
            upper = f"({rows[-1][0]}"
        return found[:first]

    async def everything(self, *, event_id: str | None = None) -> list[AuditEntry]:
        """Every entry, oldest first (for exports)."""
        rows = cast(
            list[tuple[str, dict[str, str]]], await self.redis.xrange(keys.AUDIT, "-", "+")
        )
        entries = (AuditEntry.from_fields(i, data) for i, data in rows)
        return [e for e in entries if event_id is None or e.event_id == event_id]

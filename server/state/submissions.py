"""Submissions: the :class:`SubmissionRecord`, the submission script (the caller's
checks, the captcha's single use, the rate limits, dedup and the queue bound, atomically),
the refusals it answers, and the :class:`Submissions` part of the store."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, cast

import redis.asyncio

from pipelines.contract import Job
from server.abuse.captcha.base import Ticket
from server.abuse.dedup import PreparedPrompt
from server.abuse.limits import Limit, rate_params
from server.ids import new_id
from server.state import keys
from server.state.part import NotFound, Part, num, optional_float, pairs
from server.state.participants import ParticipantRecord, hash_token
from server.state.queue import QueueState
from server.state.scripts import Script, lua

Status = Literal["QUEUED", "GENERATING", "DONE", "FAILED"]
Review = Literal["", "PENDING", "APPROVED"]


class InFlight(Exception):
    """The participant's previous submission is still waiting for its drawing."""

    def __init__(self, submission_id: str) -> None:
        super().__init__(f"submission {submission_id} is still in flight")
        self.submission_id = submission_id


class QueueFull(Exception):
    """A new job would wait longer than the configured bound."""

    def __init__(self, depth: int, job_seconds: float = 0.0, workers: int = 0) -> None:
        super().__init__(f"{depth} jobs are waiting")
        self.depth = depth
        self.job_seconds = job_seconds  # the measured speed the bound was computed with
        self.workers = workers  # live workers then


class Banned(Exception):
    """An organiser has stopped the participant from playing."""


class NoCaller(LookupError):
    """No participant for the session token given."""


class EventClosed(Exception):
    """The event takes no entries now: closed, or (with ``opens_at``) not open yet."""

    def __init__(self, opens_at: float | None = None) -> None:
        super().__init__("the event is not open" if opens_at else "the event is closed")
        self.opens_at = opens_at


class TicketUsed(Exception):
    """The captcha ticket given with a submission was claimed before."""


class RateLimited(Exception):
    """A rate limit said no; ``wait`` seconds until it would say yes."""

    def __init__(self, wait: float) -> None:
        super().__init__(f"rate limited for {wait:.3f} s")
        self.wait = wait


@dataclass(frozen=True)
class SubmissionRecord:
    id: str
    event_id: str
    participant_id: str
    nickname: str
    prompt: str  # as typed (trimmed), shown back to people
    normalised: str  # what is drawn
    prompt_key: str  # dedup identity
    seed: int
    status: Status
    deduplicated: bool
    canonical_id: str  # the submission whose drawing this one shows (itself if drawn)
    score: float | None
    image_key: str | None
    model_version: str
    error: str
    created_at: float
    finished_at: float | None
    seq: int  # place in the global job order (queue position = seq - jobs started)
    hidden: bool = False  # by an organiser: off every public board, reversibly
    review: Review = ""  # PENDING: held for an organiser's approval
    target_key: str = ""  # the target picture it was scored against
    copy: bool = False  # another participant sent this prompt first: shown, never ranked

    @property
    def shown(self) -> bool:
        """May appear publicly (its participant permitting): not hidden, not held, not
        a copy of another participant's prompt."""
        return not self.hidden and self.review != "PENDING" and not self.copy

    @classmethod
    def from_hash(cls, data: dict[str, str]) -> SubmissionRecord:
        return cls(
            id=data["id"],
            event_id=data["event_id"],
            participant_id=data["participant_id"],
            nickname=data["nickname"],
            prompt=data["prompt"],
            normalised=data["normalised"],
            prompt_key=data["prompt_key"],
            seed=int(data["seed"]),
            status=data["status"],  # type: ignore[arg-type]
            deduplicated=data.get("deduplicated") == "1",
            canonical_id=data.get("canonical") or data["id"],
            score=float(data["score"]) if data.get("score") else None,
            image_key=data.get("image_key") or None,
            model_version=data.get("model_version", ""),
            error=data.get("error", ""),
            created_at=float(data["created_at"]),
            finished_at=float(data["finished_at"]) if data.get("finished_at") else None,
            seq=int(data.get("seq", 0)),
            hidden=data.get("hidden") == "1",
            review=data.get("review", ""),  # type: ignore[arg-type]
            target_key=data.get("target_key", ""),
            copy=data.get("copy") == "1",
        )


@dataclass(frozen=True)
class Submitted:
    """A recorded submission, and the job queue as its enqueue decision saw it."""

    record: SubmissionRecord
    queue: QueueState
    workers: int  # workers with a heartbeat fresher than the stale bound


# The submission script reads the caller itself (one round trip, not two): the keys and
# values that depend on who calls are given with these slots, filled in by the script.
CALLER_ID = "<participant>"
"""A participant id that the submission script replaces with its caller's (in keys)."""
_EVENT_SLOT = "<event>"
_TARGET_SLOT = "<target>"
_SEED_SLOT = "<seed>"
# What the script checks, in which order, and what it answers: server/state/lua/submit.lua.


async def read_submissions(
    client: redis.asyncio.Redis, ids: Sequence[str]
) -> list[SubmissionRecord]:
    """The submissions of ``ids`` that exist, in that order, in one round trip."""
    if not ids:
        return []
    async with client.pipeline(transaction=False) as pipe:
        for ident in ids:
            pipe.hgetall(keys.submission(ident))
        rows: list[dict[str, str]] = await pipe.execute()
    return [SubmissionRecord.from_hash(row) for row in rows if row]


_REFUSALS = frozenset(
    ("UNAUTHENTICATED", "NO_EVENT", "BANNED", "CLOSED", "SCHEDULED", "REPLAYED",
     "RATE_LIMITED", "IN_FLIGHT", "BUSY")
)  # fmt: skip


def _refusal(
    outcome: str, detail: str, ticket: Ticket | None, job_seconds: str, workers: int
) -> Exception:
    """The exception for a refusal of the submission script."""
    if outcome == "UNAUTHENTICATED":
        return NoCaller("no participant for this session")
    if outcome == "NO_EVENT":
        return NotFound(f"no event {detail!r}")
    if outcome == "BANNED":
        return Banned(f"participant {detail} is banned")
    if outcome in ("CLOSED", "SCHEDULED"):
        return EventClosed(optional_float(detail))
    if outcome == "REPLAYED":
        return TicketUsed(ticket.key if ticket else "")
    if outcome == "RATE_LIMITED":
        return RateLimited(float(detail))
    if outcome == "IN_FLIGHT":
        return InFlight(detail)
    return QueueFull(int(detail), float(job_seconds), int(workers))


class Submissions(Part):
    """Recording submissions, and reading them by id, participant or event."""

    @functools.cached_property
    def _submit(self) -> Script:
        return self.scripts.register(lua("keys", "phase", "leaderboard", "gcra", "submit"))

    async def submit(
        self,
        *,
        participant: ParticipantRecord,
        prompt: PreparedPrompt,
        max_depth: int = 1 << 40,
    ) -> SubmissionRecord:
        """Record a submission of ``participant`` (in its event) atomically with its dedup
        decision and, if new, its job.

        Raises :class:`Banned`, :class:`EventClosed`, :class:`InFlight` or
        :class:`QueueFull`; then nothing was written.
        """
        submitted = await self.submit_with_queue(
            participant_id=participant.id,
            prompt=prompt,
            max_depth=max_depth,
        )
        return submitted.record

    async def submit_with_queue(
        self,
        *,
        session: str | None = None,
        participant_id: str | None = None,
        prompt: PreparedPrompt,
        max_depth: int = 1 << 40,
        max_wait_s: float | None = None,
        worker_stale_s: float = 15.0,
        limits: Sequence[Limit] = (),
        ticket: Ticket | None = None,
    ) -> Submitted:
        """Like :meth:`submit`, for the participant of a ``session`` token (or of
        ``participant_id``), in one round trip that also reads the caller and its event:
        raises :class:`NoCaller` for an unknown one, :class:`NotFound` when its event is
        gone, :class:`EventClosed` when the event takes no entries now. Also answers the
        queue as the decision saw it, for an ETA.

        With ``max_wait_s``, a new job is also refused (:class:`QueueFull`) when the jobs
        waiting already take that long at the measured speed with the workers whose
        heartbeat is fresher than ``worker_stale_s``: the bound is read atomically with
        the decision. A captcha ``ticket`` is claimed (:class:`TicketUsed` if it was
        before) and the request counted against ``limits`` (:class:`RateLimited` when
        one says no; a key may hold :data:`CALLER_ID` for the caller's id) in the same
        script, after the caller's checks and before the rest.

        The seed is derived in the script from the prompt key and the event's secret.
        Using a ``session`` keeps it alive for another idle period (``session_idle_s``).
        """
        if (session is None) == (participant_id is None):
            raise TypeError("give exactly one of session and participant_id")
        sid = new_id()
        now = num(time.time())
        fields = {
            "id": sid,
            "prompt": prompt.text,
            "normalised": prompt.normalised,
            "prompt_key": prompt.key,
            "status": "QUEUED",
            "created_at": now,
        }
        job = Job(
            submission_id=sid,
            event_id=_EVENT_SLOT,
            prompt=prompt.normalised,
            seed=0,  # the script fills in the seed
            target_key=_TARGET_SLOT,  # what it is scored against: for verification
        )
        flat_fields = [item for pair in fields.items() for item in pair]
        job_fields = {**job.to_fields(), "seed": _SEED_SLOT}
        flat_job = [item for pair in job_fields.items() for item in pair]
        reply = await self._submit(
            keys=[
                keys.prompt(_EVENT_SLOT, prompt.key),
                keys.submission(sid),
                keys.participant_submissions(CALLER_ID),
                keys.JOBS,
                keys.board(_EVENT_SLOT),
                keys.best(_EVENT_SLOT),
                keys.event_counts(_EVENT_SLOT),
                keys.event_channel(_EVENT_SLOT),
                keys.QUEUE,
                keys.WORKERS,
                keys.participant(CALLER_ID),
                keys.session(hash_token(session)) if session is not None else "",
                keys.event(_EVENT_SLOT),
                "" if ticket is None else ticket.key,
                *(limit.key for limit in limits),
            ],
            args=[
                keys.LUA_KEY_FORMATS,
                sid,
                participant_id or "",
                now,
                max_depth,
                "" if max_wait_s is None else num(max_wait_s),
                num(time.time() - worker_stale_s),
                json.dumps(flat_fields, ensure_ascii=False),
                json.dumps(flat_job, ensure_ascii=False),
                "" if ticket is None else ticket.ttl_ms,
                round(self.session_idle_s),
                CALLER_ID,
                _EVENT_SLOT,
                _TARGET_SLOT,
                _SEED_SLOT,
                *rate_params(limits),
            ],
        )
        outcome, detail, enqueued, started, job_seconds, workers = reply[:6]
        if outcome in _REFUSALS:
            raise _refusal(outcome, detail, ticket, job_seconds, workers)
        record = SubmissionRecord.from_hash({**fields, **pairs(reply[6:])})
        queue = QueueState(int(enqueued), int(started), float(job_seconds))
        return Submitted(record=record, queue=queue, workers=int(workers))

    async def submission(self, submission_id: str) -> SubmissionRecord:
        data: dict[str, str] = await self.redis.hgetall(keys.submission(submission_id))
        if not data:
            raise NotFound(f"no submission {submission_id!r}")
        return SubmissionRecord.from_hash(data)

    async def submissions(self, ids: list[str]) -> list[SubmissionRecord]:
        return await read_submissions(self.redis, ids)

    async def participant_submissions(
        self, participant_id: str, first: int
    ) -> list[SubmissionRecord]:
        ids: list[str] = await self.redis.lrange(
            keys.participant_submissions(participant_id), 0, max(first, 0) - 1
        )
        return await self.submissions(ids)

    async def submission_count(self, participant_id: str) -> int:
        return cast(int, await self.redis.llen(keys.participant_submissions(participant_id)))

    async def duplicates(self, submission_id: str) -> list[SubmissionRecord]:
        """Every later submission of the same prompt as this canonical one, oldest first."""
        ids = cast(list[str], await self.redis.smembers(keys.duplicates(submission_id)))
        return await self.submissions(sorted(ids))

    async def event_submissions(self, event_id: str) -> list[SubmissionRecord]:
        """Every submission of an event, oldest first (for exports)."""
        participant_ids = cast(list[str], await self.redis.hvals(keys.nicknames(event_id)))
        async with self.redis.pipeline(transaction=False) as pipe:
            for participant_id in participant_ids:
                pipe.lrange(keys.participant_submissions(participant_id), 0, -1)
            lists = cast(list[list[str]], await pipe.execute())
        return await self.submissions(sorted(ident for ids in lists for ident in ids))

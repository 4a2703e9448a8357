"""The GraphQL API: types, queries, mutations and subscriptions.

Resolvers stay thin: input is validated where it enters (``dedup``), state lives in
``store``, live updates come from ``broadcast``. Errors are :class:`ApiError` with a
stable ``extensions.code``.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncGenerator
from typing import Annotated

import strawberry
from strawberry.types import Info

from pipelines.seeds import seed_for
from server import dedup, moderation
from server.broadcast import Snapshot
from server.context import Context
from server.errors import ApiError
from server.ids import is_id
from server.images import image_url
from server.metrics import METRICS
from server.store import (
    EventRecord,
    InFlight,
    NotFound,
    ParticipantRecord,
    QueueFull,
    SubmissionRecord,
)

ContextInfo = Info[Context, None]


@strawberry.enum
class EventStatus(enum.Enum):
    OPEN = "OPEN"
    CLOSED = "CLOSED"


@strawberry.enum
class SubmissionStatus(enum.Enum):
    QUEUED = "QUEUED"
    GENERATING = "GENERATING"
    DONE = "DONE"
    FAILED = "FAILED"


@strawberry.type
class Event:
    id: strawberry.ID
    title: str
    target_image_url: str
    status: EventStatus
    participant_count: int
    submission_count: int


@strawberry.type
class LeaderboardEntry:
    id: strawberry.ID
    name: str
    score: float
    image_url: str
    rank: int


@strawberry.type
class Drawing:
    id: strawberry.ID
    name: str
    score: float
    image_url: str


@strawberry.type
class Leaderboard:
    submissions: list[LeaderboardEntry]
    last_updated_at: float
    participant_count: int
    submission_count: int
    latest: list[Drawing]
    frozen: bool


@strawberry.type
class Submission:
    id: strawberry.ID
    prompt: str
    status: SubmissionStatus
    score: float | None
    image_url: str | None
    deduplicated: bool
    created_at: float
    error: str | None
    queue_position: int | None = None
    eta_seconds: float | None = None

    @classmethod
    def of(cls, record: SubmissionRecord) -> Submission:
        return cls(
            id=strawberry.ID(record.id),
            prompt=record.prompt,
            status=SubmissionStatus(record.status),
            score=record.score,
            image_url=image_url(record.image_key) if record.image_key else None,
            deduplicated=record.deduplicated,
            created_at=record.created_at,
            error=record.error or None,
        )


@strawberry.type
class Participant:
    id: strawberry.ID
    nickname: str
    best_score: float | None
    rank: int | None

    @strawberry.field
    async def submissions(self, info: ContextInfo, first: int = 20) -> list[Submission]:
        first = _bounded("first", first, 100)
        records = await info.context.store.participant_submissions(str(self.id), first)
        return [await _submission(info, r) for r in records]


@strawberry.type
class Session:
    token: str
    participant: Participant


def _bounded(name: str, value: int, most: int) -> int:
    if not 0 <= value <= most:
        raise ApiError("INVALID_INPUT", f"{name} must be between 0 and {most}, got {value}")
    return value


def _event(record: EventRecord, participants: int, submissions: int) -> Event:
    return Event(
        id=strawberry.ID(record.id),
        title=record.title,
        target_image_url=image_url(record.target_key),
        status=EventStatus(record.status),
        participant_count=participants,
        submission_count=submissions,
    )


async def _participant(info: ContextInfo, record: ParticipantRecord) -> Participant:
    standing = await info.context.store.standing(record.event_id, record.id)
    return Participant(
        id=strawberry.ID(record.id),
        nickname=record.nickname,
        best_score=standing[0] if standing else None,
        rank=standing[1] if standing else None,
    )


def leaderboard_of(snapshot: Snapshot, first: int) -> Leaderboard:
    """Slice a shared snapshot for one subscriber; no Redis access."""
    return Leaderboard(
        submissions=[
            LeaderboardEntry(
                id=strawberry.ID(e.submission_id),
                name=e.nickname,
                score=e.score,
                image_url=image_url(e.image_key),
                rank=e.rank,
            )
            for e in snapshot.entries[:first]
        ],
        last_updated_at=snapshot.updated_at,
        participant_count=snapshot.counts.participants,
        submission_count=snapshot.counts.submissions,
        latest=[
            Drawing(
                id=strawberry.ID(r.id),
                name=r.nickname,
                score=r.score or 0.0,
                image_url=image_url(r.image_key or ""),
            )
            for r in snapshot.latest
        ],
        frozen=False,
    )


async def _submission(info: ContextInfo, record: SubmissionRecord) -> Submission:
    submission = Submission.of(record)
    submission.queue_position, submission.eta_seconds = await info.context.resources.eta(record)
    return submission


async def _submission_record(info: ContextInfo, submission_id: str) -> SubmissionRecord:
    if not is_id(submission_id):
        raise ApiError("INVALID_INPUT", f"expected a submission id (UUIDv7), got {submission_id!r}")
    try:
        return await info.context.store.submission(submission_id)
    except NotFound as exc:
        raise ApiError("NOT_FOUND", f"no submission {submission_id}") from exc


@strawberry.type
class Query:
    @strawberry.field
    async def event(self, info: ContextInfo) -> Event:
        record = await info.context.current_event()
        counts = await info.context.store.counts(record.id)
        return _event(record, counts.participants, counts.submissions)

    @strawberry.field
    async def leaderboard(self, info: ContextInfo, first: int = 10) -> Leaderboard:
        first = _bounded("first", first, info.context.settings.leaderboard_max_first)
        record = await info.context.current_event()
        snapshot = await info.context.broadcaster.compute(record.id, 0)
        return leaderboard_of(snapshot, first)

    @strawberry.field
    async def me(self, info: ContextInfo) -> Participant | None:
        record = await info.context.participant()
        return None if record is None else await _participant(info, record)

    @strawberry.field
    async def submission(self, info: ContextInfo, id: strawberry.ID) -> Submission | None:
        try:
            return await _submission(info, await _submission_record(info, str(id)))
        except ApiError as exc:
            if exc.code == "NOT_FOUND":
                return None
            raise


@strawberry.type
class Mutation:
    @strawberry.mutation
    async def join(self, info: ContextInfo, nickname: str) -> Session:
        ctx = info.context
        event = await ctx.current_event()
        if event.status != "OPEN":
            raise ApiError("EVENT_CLOSED", "this event is closed; thank you for playing")
        name = dedup.normalise_nickname(nickname, ctx.settings.nickname_max_chars)
        moderation.check_nickname(name, ctx.settings)
        joined = await ctx.store.join(event.id, name, dedup.nickname_key(name))
        if joined is None:
            raise ApiError("NICKNAME_TAKEN", f"the nickname {name!r} is taken; pick another")
        record, token = joined
        ctx.remember_session(token)
        return Session(token=token, participant=await _participant(info, record))

    @strawberry.mutation
    async def submit_prompt(
        self, info: ContextInfo, prompt: str, captcha: str | None = None
    ) -> Submission:
        try:
            submission = await _submit_prompt(info, prompt, captcha)
        except ApiError as exc:
            METRICS.count_submission("rejected", exc.code)
            if exc.code == "CAPTCHA_INVALID":
                METRICS.count_captcha_failure()
            raise
        METRICS.count_submission("deduplicated" if submission.deduplicated else "accepted")
        return submission


async def _submit_prompt(info: ContextInfo, prompt: str, captcha: str | None) -> Submission:
    """Validate where input enters, admit (captcha, limits), then record atomically."""
    ctx = info.context
    participant = await ctx.require_participant()
    event = await ctx.store.event(participant.event_id)
    if event.status != "OPEN":
        raise ApiError("EVENT_CLOSED", "this event is closed; no more prompts")
    normalised = dedup.normalise_prompt(prompt, ctx.settings.prompt_max_chars)
    moderation.check_prompt(normalised, ctx.settings)
    await ctx.admit(participant, captcha)
    try:
        record = await ctx.store.submit(
            event=event,
            participant=participant,
            prompt=" ".join(prompt.split()),
            normalised=normalised,
            prompt_key=dedup.prompt_key(normalised),
            seed=seed_for(normalised),
            max_depth=await ctx.resources.max_queue_depth(),
        )
    except InFlight as exc:
        raise ApiError(
            "IN_FLIGHT",
            "your previous prompt is still being drawn; wait for its score",
            submissionId=exc.submission_id,
        ) from exc
    except QueueFull as exc:
        state = await ctx.store.queue_state()
        workers = max(await ctx.resources.workers_alive(), 1)
        over = exc.depth * state.job_seconds / workers - ctx.settings.queue_max_wait_s
        raise ApiError(
            "BUSY",
            "the drawing queue is full right now; please try again shortly",
            retry_after=max(over, 1.0),
        ) from exc
    return await _submission(info, record)


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def leaderboard(
        self, info: ContextInfo, first: int = 10
    ) -> AsyncGenerator[Leaderboard, None]:
        ctx = info.context
        first = _bounded("first", first, ctx.settings.leaderboard_max_first)
        record = await ctx.current_event()
        async for snapshot in ctx.broadcaster.board_updates(record.id):
            yield leaderboard_of(snapshot, first)

    @strawberry.subscription
    async def submission(
        self, info: ContextInfo, id: Annotated[strawberry.ID, strawberry.argument()]
    ) -> AsyncGenerator[Submission, None]:
        ctx = info.context
        record = await _submission_record(info, str(id))
        last: SubmissionRecord | None = None
        async for _ in ctx.broadcaster.submission_changes(record.id):
            record = await ctx.store.submission(record.id)
            if record != last:
                yield await _submission(info, record)
                last = record
            if record.status in ("DONE", "FAILED"):
                return

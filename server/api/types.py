"""The GraphQL types players and screens see, and how they are made from the stored
records: events, boards, submissions, the caller as a participant.

Also the lookups every resolver shares: an event by id (or the current one), a
submission by id, a bounded ``first``.
"""

from __future__ import annotations

import enum

import strawberry
from strawberry.types import Info

from server.api.context import Context
from server.errors import ApiError
from server.ids import is_id
from server.live.board import Snapshot
from server.organiser.console import check_id, found
from server.state.events import EventRecord
from server.state.part import NotFound
from server.state.participants import ParticipantRecord
from server.state.pictures import image_url
from server.state.submissions import SubmissionRecord

ContextInfo = Info[Context, None]


@strawberry.enum
class EventStatus(enum.Enum):
    SCHEDULED = "SCHEDULED"  # not open yet: see opensAt
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
    opens_at: float | None = None
    closes_at: float | None = None
    hold_for_review: bool = False
    frozen: bool = False  # the public leaderboard shows frozen standings now
    frozen_at: float | None = None  # the time whose standings it shows (or will show)
    current: bool = False  # the event /play and /board show
    created_at: float = 0.0
    prompts_revealed: bool = False  # the board shows the best entries' prompts now
    join_captcha: bool = False  # joining needs a solved captcha


@strawberry.type
class LeaderboardEntry:
    id: strawberry.ID
    name: str
    score: float
    image_url: str
    rank: int
    prompt: str | None = None  # private until the organisers reveal the best prompts


@strawberry.type
class Drawing:
    id: strawberry.ID
    name: str
    score: float
    image_url: str


@strawberry.type
class Leaderboard:
    event_id: strawberry.ID  # changes when a board follows a switch of the current event
    submissions: list[LeaderboardEntry]
    last_updated_at: float
    participant_count: int
    submission_count: int
    latest: list[Drawing]
    frozen: bool
    # The server cannot reach the contest state right now: this is the last known board
    # (a screen says it is reconnecting until a fresh one follows).
    stale: bool = False


@strawberry.type
class Submission:
    id: strawberry.ID
    prompt: str | None  # for its author only (null for anyone else)
    status: SubmissionStatus
    score: float | None
    image_url: str | None  # null once an organiser hid the picture
    deduplicated: bool
    created_at: float
    error: str | None
    queue_position: int | None = None
    eta_seconds: float | None = None
    copied: bool = False  # another participant drew this prompt first: it does not rank
    hidden: bool = False  # an organiser hid the picture

    @classmethod
    def of(cls, record: SubmissionRecord, *, author: bool = True) -> Submission:
        """The submission as its author (or, with ``author=False``, anyone) sees it."""
        return cls(
            id=strawberry.ID(record.id),
            prompt=record.prompt if author else None,
            status=SubmissionStatus(record.status),
            score=record.score,
            image_url=image_url(record.image_key)
            if record.image_key and not record.hidden
            else None,
            deduplicated=record.deduplicated,
            created_at=record.created_at,
            error=record.error or None,
            copied=record.copy,
            hidden=record.hidden,
        )


@strawberry.type
class Participant:
    id: strawberry.ID
    nickname: str
    best_score: float | None
    rank: int | None
    claim_code: str = ""  # for the prize hand-over: booth staff match it with the export

    @strawberry.field
    async def submissions(self, info: ContextInfo, first: int = 20) -> list[Submission]:
        first = bounded("first", first, 100)
        records = await info.context.store.participant_submissions(str(self.id), first)
        return [await submission_of(info, r) for r in records]


@strawberry.type
class Session:
    token: str
    participant: Participant


def bounded(name: str, value: int, most: int) -> int:
    """``value``, if between 0 and ``most``; INVALID_INPUT otherwise."""
    if not 0 <= value <= most:
        raise ApiError("INVALID_INPUT", f"{name} must be between 0 and {most}, got {value}")
    return value


async def event_record(info: ContextInfo, event_id: strawberry.ID | None) -> EventRecord:
    """The event asked for, or the current one."""
    if event_id is None:
        return await info.context.current_event()
    store = info.context.resources.store
    return await found(store.event(check_id(str(event_id), "an event")), "event")


async def event_of(info: ContextInfo, record: EventRecord) -> Event:
    store = info.context.resources.store
    counts = await store.counts(record.id)
    return Event(
        id=strawberry.ID(record.id),
        title=record.title,
        target_image_url=image_url(record.target_key),
        status=EventStatus(record.phase),
        participant_count=counts.participants,
        submission_count=counts.submissions,
        opens_at=record.opens_at,
        closes_at=record.closes_at,
        hold_for_review=record.hold_for_review,
        frozen=record.frozen,
        frozen_at=record.frozen_at,
        current=record.id == await store.current_event_id(),
        created_at=record.created_at,
        prompts_revealed=record.prompts_public(info.context.settings.reveal_prompts_on_close)
        > 0,
        join_captcha=record.join_captcha,
    )


async def participant_of(info: ContextInfo, record: ParticipantRecord) -> Participant:
    """The caller as a player: their public standing (frozen while the board is)."""
    standing = await info.context.resources.store.standing(record.event_id, record.id)
    return Participant(
        id=strawberry.ID(record.id),
        nickname=record.nickname,
        best_score=standing[0] if standing else None,
        rank=standing[1] if standing else None,
        claim_code=record.claim_code,
    )


def leaderboard_of(snapshot: Snapshot, first: int) -> Leaderboard:
    """Slice a shared snapshot for one subscriber; no Redis access."""
    return Leaderboard(
        event_id=strawberry.ID(snapshot.event_id),
        submissions=[
            LeaderboardEntry(
                id=strawberry.ID(e.submission_id),
                name=e.nickname,
                score=e.score,
                image_url=image_url(e.image_key),
                rank=e.rank,
                prompt=e.prompt,
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
        frozen=snapshot.counts.frozen,
        stale=snapshot.stale,
    )


async def submission_of(info: ContextInfo, record: SubmissionRecord) -> Submission:
    """The submission as the caller may see it: its prompt only for its author (the
    board hands out ids: prompts are private while the event runs)."""
    caller = await info.context.participant()
    author = caller is not None and caller.id == record.participant_id
    submission = Submission.of(record, author=author)
    submission.queue_position, submission.eta_seconds = await info.context.resources.eta(record)
    return submission


async def submission_record(info: ContextInfo, submission_id: str) -> SubmissionRecord:
    """A submission by id; INVALID_INPUT for what is no id, NOT_FOUND for no such one."""
    if not is_id(submission_id):
        raise ApiError("INVALID_INPUT", f"expected a submission id (UUIDv7), got {submission_id!r}")
    try:
        return await info.context.store.submission(submission_id)
    except NotFound as exc:
        raise ApiError("NOT_FOUND", f"no submission {submission_id}") from exc

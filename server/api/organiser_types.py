"""The GraphQL types organisers see: submissions with their prompts and moderation
state, participants with their standing, audit entries and raffles."""

from __future__ import annotations

import enum
from typing import Any

import strawberry
from strawberry.scalars import JSON

from server.api.types import ContextInfo, SubmissionStatus, bounded
from server.organiser.audit import AuditEntry
from server.organiser.raffle import Raffle, ticket
from server.state.participants import ParticipantRecord
from server.state.pictures import image_url
from server.state.submissions import SubmissionRecord

RAFFLE_ALGORITHM = (
    "ticket = sha256(seed + ':' + participantId) in hex; candidates in ascending ticket "
    "order, absentees struck out; the first `count` win"
)


@strawberry.enum
class ReviewState(enum.Enum):
    NONE = "NONE"  # not held for review
    PENDING = "PENDING"  # off the public board until approved
    APPROVED = "APPROVED"


@strawberry.enum
class RaffleStatus(enum.Enum):
    PREPARED = "PREPARED"  # candidates and seed fixed and shown; nothing drawn
    DRAWN = "DRAWN"


@strawberry.type
class OrganiserSession:
    token: str
    name: str
    expires_at: float


@strawberry.type
class Organiser:
    name: str
    expires_at: float


@strawberry.type
class ModeratedSubmission:
    """A submission as organisers see it: prompt, author and moderation state."""

    id: strawberry.ID
    participant_id: strawberry.ID
    nickname: str
    prompt: str
    status: SubmissionStatus
    score: float | None
    image_url: str | None
    deduplicated: bool
    hidden: bool
    review: ReviewState
    created_at: float
    finished_at: float | None
    copied: bool = False  # another participant sent this prompt first: never ranked
    canonical_id: strawberry.ID | None = None  # the first drawing of this prompt

    @strawberry.field
    async def copies(self, info: ContextInfo) -> list[ModeratedSubmission]:
        """Other participants' later submissions of this drawing's prompt (on the first
        drawing; they share its picture, and hiding any one hides them all)."""
        if self.canonical_id != self.id:
            return []
        records = await info.context.resources.store.duplicates(str(self.id))
        return [ModeratedSubmission.of(r) for r in records if r.copy]

    @classmethod
    def of(cls, record: SubmissionRecord) -> ModeratedSubmission:
        return cls(
            id=strawberry.ID(record.id),
            participant_id=strawberry.ID(record.participant_id),
            nickname=record.nickname,
            prompt=record.prompt,
            status=SubmissionStatus(record.status),
            score=record.score,
            image_url=image_url(record.image_key) if record.image_key else None,
            deduplicated=record.deduplicated,
            hidden=record.hidden,
            review=ReviewState(record.review or "NONE"),
            created_at=record.created_at,
            finished_at=record.finished_at,
            copied=record.copy,
            canonical_id=strawberry.ID(record.canonical_id),
        )


@strawberry.type
class Player:
    """A participant as organisers see it, with the live standing."""

    id: strawberry.ID
    nickname: str
    staff: bool
    banned: bool
    created_at: float
    claim_code: str
    submission_count: int
    best_score: float | None
    rank: int | None

    @strawberry.field
    async def submissions(self, info: ContextInfo, first: int = 20) -> list[ModeratedSubmission]:
        first = bounded("first", first, 100)
        records = await info.context.resources.store.participant_submissions(str(self.id), first)
        return [ModeratedSubmission.of(r) for r in records]


@strawberry.type(name="AuditEntry")
class AuditEntryView:
    id: str
    at: float
    who: str
    source: str
    action: str
    event_id: str
    target: str
    before: JSON | None
    after: JSON | None

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditEntryView:
        return cls(
            id=entry.id,
            at=entry.at,
            who=entry.who,
            source=entry.source,
            action=entry.action,
            event_id=entry.event_id,
            target=entry.target,
            before=entry.before,
            after=entry.after,
        )


@strawberry.type
class RaffleCandidate:
    participant_id: strawberry.ID
    nickname: str
    rank: int
    score: float
    ticket: str  # sha256("<seed>:<participantId>"): the draw order is ascending tickets


@strawberry.type(name="Raffle")
class RaffleView:
    id: strawberry.ID
    event_id: strawberry.ID
    seed: str
    count: int
    top: int | None
    status: RaffleStatus
    candidates: list[RaffleCandidate]  # in board order
    winners: list[RaffleCandidate]  # in draw order
    absent: list[strawberry.ID]
    created_at: float
    drawn_at: float | None
    algorithm: str = RAFFLE_ALGORITHM

    @classmethod
    def of(cls, raffle: Raffle) -> RaffleView:
        def candidate(c: Any) -> RaffleCandidate:
            return RaffleCandidate(
                participant_id=strawberry.ID(c.participant_id),
                nickname=c.nickname,
                rank=c.rank,
                score=c.score,
                ticket=ticket(raffle.seed, c.participant_id),
            )

        return cls(
            id=strawberry.ID(raffle.id),
            event_id=strawberry.ID(raffle.event_id),
            seed=raffle.seed,
            count=raffle.count,
            top=raffle.top,
            status=RaffleStatus(raffle.status),
            candidates=[candidate(c) for c in raffle.candidates],
            winners=[candidate(c) for c in raffle.winners],
            absent=[strawberry.ID(a) for a in raffle.absent],
            created_at=raffle.created_at,
            drawn_at=raffle.drawn_at,
        )


async def player_of(info: ContextInfo, record: ParticipantRecord) -> Player:
    """A participant as organisers see it: with the live standing, whatever the public sees."""
    store = info.context.resources.store
    standing = await store.standing(record.event_id, record.id, live=True)
    return Player(
        id=strawberry.ID(record.id),
        nickname=record.nickname,
        staff=record.staff,
        banned=record.banned,
        created_at=record.created_at,
        claim_code=record.claim_code,
        submission_count=await store.submission_count(record.id),
        best_score=standing[0] if standing else None,
        rank=standing[1] if standing else None,
    )

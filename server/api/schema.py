"""The GraphQL API: types, queries, mutations and subscriptions.

Resolvers stay thin: input is validated where it enters (``dedup``), state lives in
``store``, live updates come from ``broadcast``. Errors are :class:`ApiError` with a
stable ``extensions.code``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import enum
import time
from collections.abc import AsyncGenerator
from typing import Annotated, Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from server.abuse import blocklist, dedup, limits
from server.abuse.captcha.base import replayed
from server.api.context import Context, no_session
from server.errors import ApiError
from server.ids import is_id
from server.live.board import Snapshot
from server.live.channels import SHARED
from server.metrics import METRICS
from server.organiser import auth
from server.organiser.audit import Actor, AuditEntry, AuditLog
from server.organiser.console import Console, check_id, found
from server.organiser.inputs import clean_text
from server.organiser.raffle import Raffle, ticket
from server.resources import estimate
from server.state.events import EventRecord
from server.state.part import NotFound
from server.state.participants import ParticipantRecord
from server.state.pictures import image_url
from server.state.submissions import (
    CALLER_ID,
    Banned,
    EventClosed,
    InFlight,
    NoCaller,
    QueueFull,
    RateLimited,
    SubmissionRecord,
    TicketUsed,
)

ContextInfo = Info[Context, None]
LATEST_SHOWN = 12  # latest drawings on a board, as server.live.board computes them
ORGANISER_NAME_MAX_CHARS = 40
RAFFLE_ALGORITHM = (
    "ticket = sha256(seed + ':' + participantId) in hex; candidates in ascending ticket "
    "order, absentees struck out; the first `count` win"
)


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
        first = _bounded("first", first, 100)
        records = await info.context.store.participant_submissions(str(self.id), first)
        return [await _submission(info, r) for r in records]


@strawberry.type
class Session:
    token: str
    participant: Participant


def _check_open(event: EventRecord, goodbye: str) -> None:
    phase = event.phase(time.time())
    if phase != "OPEN":
        raise _closed(event.opens_at if phase == "SCHEDULED" else None, goodbye)


def _closed(opens_at: float | None, goodbye: str) -> ApiError:
    """EVENT_CLOSED: not open yet (until ``opens_at``), or closed."""
    if opens_at is not None:
        return ApiError("EVENT_CLOSED", "this event has not opened yet", opensAt=opens_at)
    return ApiError("EVENT_CLOSED", f"this event is closed; {goodbye}")


def _consented_contact(contact: str | None, consent: bool, most: int) -> str:
    """The contact to keep: none without the attendee's explicit consent."""
    if not contact:
        return ""
    if not consent:
        raise ApiError(
            "INVALID_INPUT",
            "a contact is kept only with consent: tick the box (contactConsent: true)",
            reason="consent_required",
            field="contact",
        )
    return clean_text(contact, most, "contact", required=False)


def _bounded(name: str, value: int, most: int) -> int:
    if not 0 <= value <= most:
        raise ApiError("INVALID_INPUT", f"{name} must be between 0 and {most}, got {value}")
    return value


async def _event(info: ContextInfo, record: EventRecord) -> Event:
    store = info.context.resources.store
    counts = await store.counts(record.id)
    now = time.time()
    return Event(
        id=strawberry.ID(record.id),
        title=record.title,
        target_image_url=image_url(record.target_key),
        status=EventStatus(record.phase(now)),
        participant_count=counts.participants,
        submission_count=counts.submissions,
        opens_at=record.opens_at,
        closes_at=record.closes_at,
        hold_for_review=record.hold_for_review,
        frozen=record.frozen(now),
        frozen_at=record.frozen_at,
        current=record.id == await store.current_event_id(),
        created_at=record.created_at,
        prompts_revealed=record.prompts_public(now, info.context.settings.reveal_prompts_on_close)
        > 0,
        join_captcha=record.join_captcha,
    )


async def _event_record(info: ContextInfo, event_id: strawberry.ID | None) -> EventRecord:
    """The event asked for, or the current one."""
    if event_id is None:
        return await info.context.current_event()
    store = info.context.resources.store
    return await found(store.event(check_id(str(event_id), "an event")), "event")


async def _participant(info: ContextInfo, record: ParticipantRecord) -> Participant:
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


async def _submission(info: ContextInfo, record: SubmissionRecord) -> Submission:
    """The submission as the caller may see it: its prompt only for its author (the
    board hands out ids: prompts are private while the event runs)."""
    caller = await info.context.participant()
    author = caller is not None and caller.id == record.participant_id
    submission = Submission.of(record, author=author)
    submission.queue_position, submission.eta_seconds = await info.context.resources.eta(record)
    return submission


async def _submission_record(info: ContextInfo, submission_id: str) -> SubmissionRecord:
    if not is_id(submission_id):
        raise ApiError("INVALID_INPUT", f"expected a submission id (UUIDv7), got {submission_id!r}")
    try:
        return await info.context.store.submission(submission_id)
    except NotFound as exc:
        raise ApiError("NOT_FOUND", f"no submission {submission_id}") from exc


# --------------------------------------------------------------- organisers


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
        first = _bounded("first", first, 100)
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


async def _console(info: ContextInfo) -> Console:
    """The caller's organiser console; UNAUTHENTICATED or FORBIDDEN otherwise."""
    ctx = info.context
    res = ctx.resources
    session, _ = await auth.authenticate(
        res.redis, res.settings, ctx.connection, ctx.connection_params
    )
    return Console(res.store, res.images, res.settings, Actor(session.name, ctx.client_ip))


async def _organiser_event(info: ContextInfo, event_id: strawberry.ID | None) -> Console:
    console = await _console(info)
    await _event_record(info, event_id)
    return console


async def _player(info: ContextInfo, record: ParticipantRecord) -> Player:
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


async def _live_leaderboard(info: ContextInfo, event_id: str, first: int) -> Leaderboard:
    """The live standings, whatever the public sees."""
    store = info.context.resources.store
    snapshot = Snapshot(
        event_id=event_id,
        entries=await store.leaderboard(event_id, first, live=True),
        latest=await store.recent(event_id, LATEST_SHOWN, live=True),
        counts=await store.counts(event_id),
        updated_at=time.time(),
        version=0,
    )
    return leaderboard_of(snapshot, first)


def _picture(encoded: str, most_bytes: int) -> bytes:
    """Bytes of a base64 picture (a data: URL is fine too)."""
    _, _, data = encoded.rpartition(",")
    if len(data) > most_bytes * 4 // 3 + 4:
        raise ApiError(
            "INVALID_INPUT", f"the picture may have at most {most_bytes} bytes",
            reason="too_large", field="imageBase64",
        )
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ApiError(
            "INVALID_INPUT", "expected the picture as base64", reason="not_base64",
            field="imageBase64",
        ) from exc


@strawberry.type
class OrganiserQuery:
    """Queries for organisers; each needs an organiser token (except ``organiser``)."""

    @strawberry.field
    async def organiser(self, info: ContextInfo) -> Organiser | None:
        """Who is logged in as organiser, or null."""
        ctx = info.context
        try:
            session, _ = await auth.authenticate(
                ctx.resources.redis, ctx.settings, ctx.connection, ctx.connection_params
            )
        except ApiError as exc:
            if exc.code == "UNAUTHENTICATED":
                return None
            raise
        return Organiser(name=session.name, expires_at=session.expires_at)

    @strawberry.field
    async def events(self, info: ContextInfo) -> list[Event]:
        await _console(info)
        return [await _event(info, r) for r in await info.context.resources.store.events()]

    @strawberry.field
    async def organiser_leaderboard(
        self, info: ContextInfo, event_id: strawberry.ID | None = None, first: int = 10
    ) -> Leaderboard:
        """The live standings, also while the public board is frozen."""
        await _console(info)
        first = _bounded("first", first, info.context.settings.leaderboard_max_first)
        record = await _event_record(info, event_id)
        return await _live_leaderboard(info, record.id, first)

    @strawberry.field
    async def participants(
        self,
        info: ContextInfo,
        event_id: strawberry.ID | None = None,
        search: str = "",
        first: int = 50,
    ) -> list[Player]:
        """Participants whose nickname contains ``search`` (any case), in joining order."""
        await _console(info)
        first = _bounded("first", first, 500)
        record = await _event_record(info, event_id)
        needle = search.casefold()
        everyone = await info.context.resources.store.participants(record.id)
        chosen = [p for p in everyone if needle in p.nickname.casefold()][:first]
        return [await _player(info, p) for p in chosen]

    @strawberry.field
    async def participant(self, info: ContextInfo, id: strawberry.ID) -> Player | None:
        await _console(info)
        record = await info.context.resources.store.participant(check_id(str(id), "a participant"))
        return None if record is None else await _player(info, record)

    @strawberry.field
    async def claim(
        self, info: ContextInfo, code: str, event_id: strawberry.ID | None = None
    ) -> Player | None:
        """Whose prize claim code this is."""
        await _console(info)
        record = await _event_record(info, event_id)
        store = info.context.resources.store
        player = await store.participant_by_claim_code(record.id, code.strip()[:16])
        return None if player is None else await _player(info, player)

    @strawberry.field
    async def latest_submissions(
        self, info: ContextInfo, event_id: strawberry.ID | None = None, first: int = 20
    ) -> list[ModeratedSubmission]:
        """The latest drawings, hidden and held ones included: what moderators watch."""
        await _console(info)
        first = _bounded("first", first, 50)
        record = await _event_record(info, event_id)
        latest = await info.context.resources.store.latest(record.id, first)
        return [ModeratedSubmission.of(r) for r in latest]

    @strawberry.field
    async def review_queue(
        self, info: ContextInfo, event_id: strawberry.ID | None = None, first: int = 20
    ) -> list[ModeratedSubmission]:
        """Drawings held for review, oldest first."""
        await _console(info)
        first = _bounded("first", first, 100)
        record = await _event_record(info, event_id)
        held = await info.context.resources.store.review_queue(record.id, first)
        return [ModeratedSubmission.of(r) for r in held]

    @strawberry.field
    async def audit_log(
        self,
        info: ContextInfo,
        event_id: strawberry.ID | None = None,
        first: int = 50,
        before: str | None = None,
    ) -> list[AuditEntryView]:
        """Organiser actions, newest first; ``before``: an entry id, for the next page."""
        console = await _console(info)
        first = _bounded("first", first, 500)
        entries = await console.audit.entries(
            event_id=None if event_id is None else str(event_id), first=first, before=before
        )
        return [AuditEntryView.of(e) for e in entries]

    @strawberry.field
    async def raffles(
        self, info: ContextInfo, event_id: strawberry.ID | None = None
    ) -> list[RaffleView]:
        console = await _console(info)
        record = await _event_record(info, event_id)
        return [RaffleView.of(r) for r in await console.raffles.of_event(record.id)]

    @strawberry.field
    async def raffle(self, info: ContextInfo, id: strawberry.ID) -> RaffleView | None:
        console = await _console(info)
        try:
            return RaffleView.of(await console.raffle(str(id)))
        except ApiError as exc:
            if exc.code == "NOT_FOUND":
                return None
            raise


@strawberry.type
class OrganiserMutation:
    """Organiser actions; each needs an organiser token and is written to the audit log."""

    @strawberry.mutation
    async def organiser_login(
        self, info: ContextInfo, password: str, name: str = "organiser"
    ) -> OrganiserSession:
        """Log in as organiser; the token also comes as an HttpOnly, SameSite=Strict cookie.
        ``name`` says who is acting in the audit log."""
        ctx = info.context
        res = ctx.resources
        actor = Actor(clean_text(name, ORGANISER_NAME_MAX_CHARS, "name"), ctx.client_ip)
        token, session = await auth.login(
            res.redis, res.settings, AuditLog(res.redis), password=password, actor=actor
        )
        if ctx.response is not None:
            lasts = res.settings.organiser_session_s
            auth.set_cookie(ctx.response, ctx.connection, token, lasts)
        return OrganiserSession(token=token, name=session.name, expires_at=session.expires_at)

    @strawberry.mutation
    async def organiser_logout(self, info: ContextInfo) -> bool:
        ctx = info.context
        console = await _console(info)
        _, token = await auth.authenticate(
            ctx.resources.redis, ctx.settings, ctx.connection, ctx.connection_params
        )
        await console.audit.record(console.actor, "organiser.logout")
        if ctx.response is not None:
            auth.clear_cookie(ctx.response)
        return await auth.logout(ctx.resources.redis, token)

    @strawberry.mutation
    async def create_event(
        self,
        info: ContextInfo,
        title: str,
        opens_at: float | None = None,
        closes_at: float | None = None,
        hold_for_review: bool = False,
        make_current: bool = False,
        target_image_base64: str | None = None,
    ) -> Event:
        """A new event; without a target picture it gets the demo duck (upload one with
        ``setEventTarget`` or ``POST /admin/events/{id}/target``)."""
        console = await _console(info)
        target = (
            None
            if target_image_base64 is None
            else _picture(target_image_base64, console.settings.target_max_bytes)
        )
        record = await console.create_event(
            title,
            target=target,
            opens_at=opens_at,
            closes_at=closes_at,
            hold_for_review=hold_for_review,
            make_current=make_current,
        )
        return await _event(info, record)

    @strawberry.mutation
    async def update_event(
        self,
        info: ContextInfo,
        id: strawberry.ID,
        title: str | None = None,
        hold_for_review: bool | None = None,
        join_captcha: bool | None = None,
    ) -> Event:
        """Change what is given; ``joinCaptcha`` makes joining need a solved captcha."""
        console = await _console(info)
        record = await console.update_event(
            str(id), title=title, hold_for_review=hold_for_review, join_captcha=join_captcha
        )
        return await _event(info, record)

    @strawberry.mutation
    async def reveal_prompts(
        self, info: ContextInfo, event_id: strawberry.ID | None = None, top: int = 10
    ) -> Event:
        """The closing moment: every board shows the prompts of the best ``top`` entries
        (0 takes the reveal back). Audited."""
        console = await _console(info)
        record = await _event_record(info, event_id)
        return await _event(info, await console.reveal_prompts(record.id, top))

    @strawberry.mutation
    async def set_event_schedule(
        self,
        info: ContextInfo,
        id: strawberry.ID,
        opens_at: float | None = None,
        closes_at: float | None = None,
    ) -> Event:
        """When the event takes entries (unix seconds); null leaves that side open."""
        console = await _console(info)
        return await _event(info, await console.set_schedule(str(id), opens_at, closes_at))

    @strawberry.mutation
    async def set_event_target(
        self, info: ContextInfo, id: strawberry.ID, image_base64: str
    ) -> Event:
        """A new target picture (PNG, JPEG, WebP, ... as base64), before any submission."""
        console = await _console(info)
        picture = _picture(image_base64, console.settings.target_max_bytes)
        return await _event(info, await console.set_target(str(id), picture))

    @strawberry.mutation
    async def open_event(self, info: ContextInfo, id: strawberry.ID) -> Event:
        return await _event(info, await (await _console(info)).open_event(str(id)))

    @strawberry.mutation
    async def close_event(self, info: ContextInfo, id: strawberry.ID) -> Event:
        return await _event(info, await (await _console(info)).close_event(str(id)))

    @strawberry.mutation
    async def set_current_event(self, info: ContextInfo, id: strawberry.ID) -> Event:
        return await _event(info, await (await _console(info)).set_current_event(str(id)))

    @strawberry.mutation
    async def freeze_leaderboard(
        self, info: ContextInfo, event_id: strawberry.ID | None = None, at: float | None = None
    ) -> Event:
        """The public sees the standings of ``at`` (unix seconds; default now) until
        ``unfreezeLeaderboard``; organisers keep seeing live ones."""
        console = await _console(info)
        record = await _event_record(info, event_id)
        return await _event(info, await console.freeze(record.id, at))

    @strawberry.mutation
    async def unfreeze_leaderboard(
        self, info: ContextInfo, event_id: strawberry.ID | None = None
    ) -> Event:
        """The reveal: the public sees live standings again."""
        console = await _console(info)
        record = await _event_record(info, event_id)
        return await _event(info, await console.unfreeze(record.id))

    @strawberry.mutation
    async def hide_submission(
        self, info: ContextInfo, id: strawberry.ID, reason: str = ""
    ) -> ModeratedSubmission:
        """Off every public board at once; the author's best is recomputed. Reversible."""
        console = await _console(info)
        return ModeratedSubmission.of(await console.hide(str(id), reason))

    @strawberry.mutation
    async def unhide_submission(self, info: ContextInfo, id: strawberry.ID) -> ModeratedSubmission:
        return ModeratedSubmission.of(await (await _console(info)).unhide(str(id)))

    @strawberry.mutation
    async def approve_submission(
        self, info: ContextInfo, id: strawberry.ID
    ) -> ModeratedSubmission:
        """Let a drawing held for review onto the public board."""
        return ModeratedSubmission.of(await (await _console(info)).approve(str(id)))

    @strawberry.mutation
    async def ban_participant(
        self, info: ContextInfo, id: strawberry.ID, reason: str = ""
    ) -> Player:
        """Off the board, waiting job cancelled, further prompts refused (BANNED)."""
        console = await _console(info)
        return await _player(info, await console.ban(str(id), reason))

    @strawberry.mutation
    async def unban_participant(self, info: ContextInfo, id: strawberry.ID) -> Player:
        return await _player(info, await (await _console(info)).unban(str(id)))

    @strawberry.mutation
    async def set_staff(
        self, info: ContextInfo, id: strawberry.ID, staff: bool = True
    ) -> Player:
        """Staff play normally but are never ranked, exported or drawn in a raffle."""
        return await _player(info, await (await _console(info)).set_staff(str(id), staff))

    @strawberry.mutation
    async def prepare_raffle(
        self,
        info: ContextInfo,
        count: int,
        event_id: strawberry.ID | None = None,
        top: int | None = None,
        seed: str | None = None,
    ) -> RaffleView:
        """Fix the candidates (top N of the live board, or all) and the seed (random if
        not given), to show before ``drawRaffle``."""
        console = await _console(info)
        record = await _event_record(info, event_id)
        raffle = await console.prepare_raffle(record.id, count=count, top=top, seed=seed)
        return RaffleView.of(raffle)

    @strawberry.mutation
    async def draw_raffle(self, info: ContextInfo, id: strawberry.ID) -> RaffleView:
        """Draw a prepared raffle: the ``count`` lowest tickets win."""
        return RaffleView.of(await (await _console(info)).draw_raffle(str(id)))

    @strawberry.mutation
    async def redraw_raffle(
        self, info: ContextInfo, id: strawberry.ID, absent: list[strawberry.ID]
    ) -> RaffleView:
        """Strike out absent winners; the next tickets in order take their places."""
        console = await _console(info)
        return RaffleView.of(await console.redraw_raffle(str(id), [str(a) for a in absent]))


@strawberry.type
class OrganiserSubscription:
    @strawberry.subscription
    async def organiser_leaderboard(
        self, info: ContextInfo, event_id: strawberry.ID | None = None, first: int = 10
    ) -> AsyncGenerator[Leaderboard, None]:
        """The live standings, again on every change, also while the public is frozen."""
        await _console(info)
        first = _bounded("first", first, info.context.settings.leaderboard_max_first)
        record = await _event_record(info, event_id)
        async for _ in info.context.resources.broadcaster.board_updates(record.id):
            yield await _live_leaderboard(info, record.id, first)

    @strawberry.subscription
    async def moderation_feed(
        self, info: ContextInfo, event_id: strawberry.ID | None = None, first: int = 20
    ) -> AsyncGenerator[list[ModeratedSubmission], None]:
        """The latest drawings with prompts and moderation state, again on every change."""
        await _console(info)
        first = _bounded("first", first, 50)
        record = await _event_record(info, event_id)
        store = info.context.resources.store
        async for _ in info.context.resources.broadcaster.board_updates(record.id):
            yield [ModeratedSubmission.of(r) for r in await store.latest(record.id, first)]


@strawberry.type
class Query(OrganiserQuery):
    @strawberry.field
    async def event(self, info: ContextInfo, event_id: strawberry.ID | None = None) -> Event:
        """An event by id, or the current one."""
        return await _event(info, await _event_record(info, event_id))

    @strawberry.field
    async def leaderboard(
        self, info: ContextInfo, first: int = 10, event_id: strawberry.ID | None = None
    ) -> Leaderboard:
        """The public standings: frozen ones from the freeze time until the reveal."""
        first = _bounded("first", first, info.context.settings.leaderboard_max_first)
        record = await _event_record(info, event_id)
        return leaderboard_of(await info.context.board_snapshot(record.id), first)

    @strawberry.field
    async def me(self, info: ContextInfo) -> Participant | None:
        record = await info.context.participant()
        return None if record is None else await _participant(info, record)

    @strawberry.field
    async def submission(self, info: ContextInfo, id: strawberry.ID) -> Submission | None:
        """A submission; its prompt for its author only."""
        try:
            return await _submission(info, await _submission_record(info, str(id)))
        except ApiError as exc:
            if exc.code == "NOT_FOUND":
                return None
            raise


@strawberry.type
class Mutation(OrganiserMutation):
    @strawberry.mutation
    async def join(
        self,
        info: ContextInfo,
        nickname: str,
        event_id: strawberry.ID | None = None,
        contact: str | None = None,
        contact_consent: bool = False,
        captcha: str | None = None,
    ) -> Session:
        """Play under a nickname; ``contact`` (for a prize) is kept only with consent.
        Joins are limited per address, and need a ``captcha`` where the event says so."""
        ctx = info.context
        event = await _event_record(info, event_id)
        _check_open(event, "thank you for playing")
        await limits.enforce_rates(
            ctx.resources.redis, [limits.join_limit(ctx.settings, ctx.client_ip)], what="joins"
        )
        if event.join_captcha:
            await ctx.resources.captcha.verify(captcha, remote_ip=ctx.client_ip)
        name = dedup.normalise_nickname(nickname, ctx.settings.nickname_max_chars)
        blocklist.check_nickname(name, ctx.settings)
        kept = _consented_contact(contact, contact_consent, ctx.settings.contact_max_chars)
        joined = await ctx.store.join(event.id, name, dedup.nickname_key(name), contact=kept)
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
    """Validate where input enters and check the captcha; then one script reads the
    caller and records atomically with the captcha's single use, the rate limits, the
    dedup decision and the queue bound."""
    ctx = info.context
    # A captcha pass that covers several submissions is the caller's credit: with such
    # friction the caller is read first. Otherwise the submission script reads it.
    participant = None if ctx.settings.captcha_every == 1 else await _playing(ctx)
    try:
        normalised = dedup.normalise_prompt(prompt, ctx.settings.prompt_max_chars)
        blocklist.check_prompt(normalised, ctx.settings)
        ticket = await ctx.admit(participant, captcha)
    except ApiError:
        if participant is None:
            # As if the caller had been checked first: a stranger, a banned player or a
            # closed event hear that, rather than what is wrong with the prompt.
            await _playing(ctx)
        raise
    try:
        submitted = await ctx.store.submit_with_queue(
            session=ctx.session(),
            prompt=" ".join(prompt.split()),
            normalised=normalised,
            prompt_key=dedup.prompt_key(normalised),
            max_wait_s=ctx.settings.queue_max_wait_s,
            worker_stale_s=ctx.settings.worker_stale_s,
            limits=limits.submission_limits(
                ctx.settings, participant_id=CALLER_ID, ip=ctx.client_ip
            ),
            ticket=ticket,
        )
    except NoCaller as exc:
        raise no_session() from exc
    except Banned as exc:
        raise _banned() from exc
    except EventClosed as exc:
        raise _closed(exc.opens_at, "no more prompts") from exc
    except TicketUsed as exc:
        raise replayed() from exc
    except RateLimited as exc:
        raise limits.rate_limited(exc.wait) from exc
    except InFlight as exc:
        raise ApiError(
            "IN_FLIGHT",
            "your previous prompt is still being drawn; wait for its score",
            submissionId=exc.submission_id,
        ) from exc
    except QueueFull as exc:
        workers = max(exc.workers, 1)
        over = exc.depth * exc.job_seconds / workers - ctx.settings.queue_max_wait_s
        raise ApiError(
            "BUSY",
            "the drawing queue is full right now; please try again shortly",
            retry_after=max(over, 1.0),
        ) from exc
    submission = Submission.of(submitted.record)
    submission.queue_position, submission.eta_seconds = estimate(
        submitted.record, submitted.queue, submitted.workers
    )
    return submission


async def _playing(ctx: Context) -> ParticipantRecord:
    """The caller, if it may submit now; else UNAUTHENTICATED, BANNED or EVENT_CLOSED."""
    participant, event = await ctx.caller()
    if participant.banned:
        raise _banned()
    _check_open(event, "no more prompts")
    return participant


def _banned() -> ApiError:
    return ApiError("BANNED", "an organiser has stopped this player from playing")


@strawberry.type
class Subscription(OrganiserSubscription):
    @strawberry.subscription
    async def leaderboard(
        self, info: ContextInfo, first: int = 10, event_id: strawberry.ID | None = None
    ) -> AsyncGenerator[Leaderboard, None]:
        """The public standings, again on every change (frozen ones while frozen)."""
        ctx = info.context
        first = _bounded("first", first, ctx.settings.leaderboard_max_first)
        if event_id is None:
            # The big screen follows the organisers' "current event" switch.
            updates = ctx.broadcaster.current_board_updates()
        else:
            updates = ctx.broadcaster.board_updates((await _event_record(info, event_id)).id)
        # A shared channel's subscribers are counted by the fan-out, one per screen.
        with contextlib.nullcontext() if SHARED.get() else METRICS.subscribed("leaderboard"):
            async for snapshot in updates:
                yield leaderboard_of(snapshot, first)

    @strawberry.subscription
    async def submission(
        self, info: ContextInfo, id: Annotated[strawberry.ID, strawberry.argument()]
    ) -> AsyncGenerator[Submission, None]:
        ctx = info.context
        record = await _submission_record(info, str(id))
        last: SubmissionRecord | None = None
        with METRICS.subscribed("submission"):
            async for _ in ctx.broadcaster.submission_changes(record.id):
                record = await ctx.store.submission(record.id)
                if record != last:
                    yield await _submission(info, record)
                    last = record
                if record.status in ("DONE", "FAILED"):
                    return

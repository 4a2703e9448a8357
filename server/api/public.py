"""What players and screens call: join, submit a prompt, read the board and one's own
submissions, and follow them live.

Input is validated where it enters (:mod:`server.abuse.dedup`, the blocklist, the
captcha); one store script then records a submission atomically.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator
from typing import Annotated

import strawberry

from server.abuse import blocklist, dedup, limits
from server.abuse.captcha.base import replayed
from server.api.context import Context, no_session
from server.api.types import (
    ContextInfo,
    Event,
    Leaderboard,
    Participant,
    Session,
    Submission,
    bounded,
    event_of,
    event_record,
    leaderboard_of,
    participant_of,
    submission_of,
    submission_record,
)
from server.errors import ApiError
from server.live.channels import SHARED
from server.metrics import METRICS
from server.organiser.inputs import clean_text
from server.resources import estimate
from server.state.events import EventRecord
from server.state.participants import ParticipantRecord
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


@strawberry.type
class PublicQuery:
    @strawberry.field
    async def event(self, info: ContextInfo, event_id: strawberry.ID | None = None) -> Event:
        """An event by id, or the current one."""
        return await event_of(info, await event_record(info, event_id))

    @strawberry.field
    async def leaderboard(
        self, info: ContextInfo, first: int = 10, event_id: strawberry.ID | None = None
    ) -> Leaderboard:
        """The public standings: frozen ones from the freeze time until the reveal."""
        first = bounded("first", first, info.context.settings.leaderboard_max_first)
        checked = None if event_id is None else (await event_record(info, event_id)).id
        return leaderboard_of(await info.context.board_snapshot(checked), first)

    @strawberry.field
    async def me(self, info: ContextInfo) -> Participant | None:
        record = await info.context.participant()
        return None if record is None else await participant_of(info, record)

    @strawberry.field
    async def submission(self, info: ContextInfo, id: strawberry.ID) -> Submission | None:
        """A submission; its prompt for its author only."""
        try:
            return await submission_of(info, await submission_record(info, str(id)))
        except ApiError as exc:
            if exc.code == "NOT_FOUND":
                return None
            raise


@strawberry.type
class PublicMutation:
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
        event = await event_record(info, event_id)
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
        return Session(token=token, participant=await participant_of(info, record))

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
        prepared = dedup.prepare(prompt, ctx.settings.prompt_max_chars)
        blocklist.check_prompt(prepared.normalised, ctx.settings)
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
            prompt=prepared,
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
class PublicSubscription:
    @strawberry.subscription
    async def leaderboard(
        self, info: ContextInfo, first: int = 10, event_id: strawberry.ID | None = None
    ) -> AsyncGenerator[Leaderboard, None]:
        """The public standings, again on every change (frozen ones while frozen)."""
        ctx = info.context
        first = bounded("first", first, ctx.settings.leaderboard_max_first)
        if event_id is None:
            # The big screen follows the organisers' "current event" switch.
            updates = ctx.broadcaster.current_board_updates()
        else:
            updates = ctx.broadcaster.board_updates((await event_record(info, event_id)).id)
        # A shared channel's subscribers are counted by the fan-out, one per screen.
        with contextlib.nullcontext() if SHARED.get() else METRICS.subscribed("leaderboard"):
            async for snapshot in updates:
                yield leaderboard_of(snapshot, first)

    @strawberry.subscription
    async def submission(
        self, info: ContextInfo, id: Annotated[strawberry.ID, strawberry.argument()]
    ) -> AsyncGenerator[Submission, None]:
        ctx = info.context
        record = await submission_record(info, str(id))
        last: SubmissionRecord | None = None
        with METRICS.subscribed("submission"):
            async for _ in ctx.broadcaster.submission_changes(record.id):
                record = await ctx.store.submission(record.id)
                if record != last:
                    yield await submission_of(info, record)
                    last = record
                if record.status in ("DONE", "FAILED"):
                    return


def _check_open(event: EventRecord, goodbye: str) -> None:
    phase = event.phase
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

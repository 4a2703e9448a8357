"""Everything an organiser can do, each action written to the audit log.

One :class:`Console` is made per request or command-line run, bound to whoever acts.
The GraphQL API, the ``/admin`` HTTP routes and the ``lookalike`` command all act
through it, so no organiser action escapes the audit log. Moderation changes reach every
open board at once: the store publishes on the event's channel inside the same script.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar

from server.errors import ApiError, invalid_input
from server.ids import is_id
from server.organiser import demo
from server.organiser.audit import Actor, AuditLog
from server.organiser.export import (
    AUDIT_COLUMNS,
    DRAWING_COLUMNS,
    SUBMISSION_COLUMNS,
    WINNER_COLUMNS,
    Format,
    audit_rows,
    drawing_rows,
    event_info,
    render,
    submission_rows,
    winner_rows,
)
from server.organiser.inputs import TITLE_MAX_CHARS, check_schedule, clean_text, target_webp
from server.organiser.raffle import Raffle, Raffles
from server.settings import Settings
from server.state.events import EventRecord
from server.state.part import NotFound
from server.state.participants import ParticipantRecord
from server.state.pictures import ImageStore, put_target
from server.state.store import Store
from server.state.submissions import SubmissionRecord

T = TypeVar("T")
REASON_MAX_CHARS = 200
ExportKind = Literal["winners", "submissions", "audit"]


def event_state(record: EventRecord) -> dict[str, Any]:
    """An event as the audit log keeps it."""
    return {
        "title": record.title,
        "status": record.status,
        "targetKey": record.target_key,
        "opensAt": record.opens_at,
        "closesAt": record.closes_at,
        "holdForReview": record.hold_for_review,
        "frozenAt": record.frozen_at,
        "revealedTop": record.revealed_top,
        "joinCaptcha": record.join_captcha,
    }


def flag_value(field: str, raw: str) -> bool | str:
    """A stored moderation field as the audit log shows it: a flag, or a review state."""
    return (raw or "NONE") if field == "review" else raw == "1"


def check_id(value: str, what: str) -> str:
    if not is_id(value):
        raise invalid_input(f"expected {what} id (a UUIDv7), got {value!r}", field="id")
    return value


async def found(lookup: Awaitable[T], what: str) -> T:
    """The result of a store lookup, with NotFound turned into the API's NOT_FOUND."""
    try:
        return await lookup
    except NotFound as exc:
        raise ApiError("NOT_FOUND", f"no such {what}") from exc


class Console:
    """The organiser's actions, as ``actor``."""

    def __init__(self, store: Store, images: ImageStore, settings: Settings, actor: Actor) -> None:
        self.store = store
        self.images = images
        self.settings = settings
        self.actor = actor
        self.audit = AuditLog(store.redis)
        self.raffles = Raffles(store)

    async def _record(
        self, action: str, event_id: str, target: str, before: Any = None, after: Any = None
    ) -> None:
        await self.audit.record(
            self.actor, action, event_id=event_id, target=target, before=before, after=after
        )

    async def event(self, event_id: str) -> EventRecord:
        return await found(self.store.event(check_id(event_id, "an event")), "event")

    # ----------------------------------------------------------------- events
    async def create_event(
        self,
        title: str,
        *,
        target: bytes | None = None,
        opens_at: float | None = None,
        closes_at: float | None = None,
        hold_for_review: bool = False,
        make_current: bool = False,
    ) -> EventRecord:
        """A new event; without a target picture it gets the demo duck."""
        title = clean_text(title, TITLE_MAX_CHARS, "title")
        check_schedule(opens_at, closes_at)
        picture = demo.target_webp() if target is None else target_webp(target, self.settings)
        event_id = await self.store.create_event(
            title,
            await put_target(self.images, self.store.redis, picture),
            current=make_current,
            opens_at=opens_at,
            closes_at=closes_at,
            hold_for_review=hold_for_review,
            join_captcha=self.settings.join_captcha,
        )
        record = await self.store.event(event_id)
        after = {**event_state(record), "current": make_current}
        await self._record("event.create", event_id, event_id, after=after)
        return record

    async def _change(
        self, event_id: str, action: str, changes: dict[str, str | None]
    ) -> EventRecord:
        before = await self.event(event_id)
        await self.store.update_event(event_id, changes)
        return await self._recorded(action, before)

    async def update_event(
        self,
        event_id: str,
        *,
        title: str | None = None,
        hold_for_review: bool | None = None,
        join_captcha: bool | None = None,
    ) -> EventRecord:
        changes: dict[str, str | None] = {}
        if title is not None:
            changes["title"] = clean_text(title, TITLE_MAX_CHARS, "title")
        for field, value in (("hold", hold_for_review), ("join_captcha", join_captcha)):
            if value is not None:
                changes[field] = "1" if value else "0"
        return await self._change(event_id, "event.update", changes)

    async def reveal_prompts(self, event_id: str, top: int) -> EventRecord:
        """Make the prompts of the best ``top`` entries public (0 takes the reveal back);
        every board shows them at once."""
        if not 0 <= top <= self.settings.leaderboard_max_first:
            raise invalid_input(
                f"top must be between 0 and {self.settings.leaderboard_max_first}, got {top}",
                field="top",
            )
        changes = {"revealed_top": str(top) if top else None}
        return await self._change(event_id, "prompts.reveal", changes)

    async def set_schedule(
        self, event_id: str, opens_at: float | None, closes_at: float | None
    ) -> EventRecord:
        """When the event takes entries; None leaves that side open."""
        check_schedule(opens_at, closes_at)
        changes = {
            "opens_at": None if opens_at is None else repr(float(opens_at)),
            "closes_at": None if closes_at is None else repr(float(closes_at)),
        }
        return await self._change(event_id, "event.schedule", changes)

    async def set_target(self, event_id: str, picture: bytes) -> EventRecord:
        """A new target picture, only before anything was scored against the old one."""
        await self.event(event_id)
        if (await self.store.counts(event_id)).submissions:
            raise invalid_input(
                "this event already has submissions scored against its target; "
                "create a new event for a new target",
                reason="has_submissions",
                field="target",
            )
        key = await put_target(self.images, self.store.redis, target_webp(picture, self.settings))
        return await self._change(event_id, "event.target", {"target_key": key})

    async def open_event(self, event_id: str) -> EventRecord:
        """Take entries from now on: a schedule saying otherwise is cleared."""
        record = await self.event(event_id)
        now = time.time()
        changes: dict[str, str | None] = {"status": "OPEN"}
        if record.opens_at is not None and record.opens_at > now:
            changes["opens_at"] = None
        if record.closes_at is not None and record.closes_at <= now:
            changes["closes_at"] = None
        return await self._change(event_id, "event.open", changes)

    async def close_event(self, event_id: str) -> EventRecord:
        return await self._change(event_id, "event.close", {"status": "CLOSED"})

    async def set_current_event(self, event_id: str) -> EventRecord:
        """The event that /play and /board show."""
        record = await self.event(event_id)
        before = await self.store.current_event_id()
        await self.store.set_current_event(event_id)
        await self._record(
            "event.set-current", event_id, event_id, {"current": before}, {"current": event_id}
        )
        return record

    async def freeze(self, event_id: str, at: float | None = None) -> EventRecord:
        """Show the public the standings of ``at`` (default now) until unfrozen."""
        before = await self.event(event_id)
        await self.store.freeze(event_id, time.time() if at is None else at)
        return await self._recorded("leaderboard.freeze", before)

    async def unfreeze(self, event_id: str) -> EventRecord:
        """Reveal: the public sees the live standings again."""
        before = await self.event(event_id)
        await self.store.unfreeze(event_id)
        return await self._recorded("leaderboard.unfreeze", before)

    async def _recorded(self, action: str, before: EventRecord) -> EventRecord:
        after = await self.store.event(before.id)
        await self._record(action, before.id, before.id, event_state(before), event_state(after))
        return after

    # ------------------------------------------------------------- moderation
    async def _flag_submission(
        self, submission_id: str, field: Literal["hidden", "review"], value: str, action: str,
        reason: str = "",
    ) -> SubmissionRecord:
        check_id(submission_id, "a submission")
        before = await found(
            self.store.set_submission_flag(submission_id, field, value), "submission"
        )
        record = await self.store.submission(submission_id)
        after: dict[str, Any] = {field: flag_value(field, value)}
        if reason:
            after["reason"] = clean_text(reason, REASON_MAX_CHARS, "reason")
        before_state = {field: flag_value(field, before)}
        await self._record(action, record.event_id, submission_id, before_state, after)
        return record

    async def hide(self, submission_id: str, reason: str = "") -> SubmissionRecord:
        """Off every public board; the participant's best is recomputed from the rest."""
        return await self._flag_submission(submission_id, "hidden", "1", "submission.hide", reason)

    async def unhide(self, submission_id: str) -> SubmissionRecord:
        return await self._flag_submission(submission_id, "hidden", "", "submission.unhide")

    async def approve(self, submission_id: str) -> SubmissionRecord:
        """Let a drawing held for review onto the public board."""
        return await self._flag_submission(
            submission_id, "review", "APPROVED", "submission.approve"
        )

    async def _flag_participant(
        self, participant_id: str, field: Literal["staff", "banned"], value: str, action: str,
        reason: str = "",
    ) -> ParticipantRecord:
        check_id(participant_id, "a participant")
        before, cancelled = await found(
            self.store.set_participant_flag(participant_id, field, value), "participant"
        )
        record = await self.store.participant(participant_id)
        assert record is not None  # participants are never deleted
        after: dict[str, Any] = {field: flag_value(field, value)}
        if reason:
            after["reason"] = clean_text(reason, REASON_MAX_CHARS, "reason")
        if cancelled:
            after["cancelled"] = cancelled
        before_state = {field: flag_value(field, before)}
        await self._record(action, record.event_id, participant_id, before_state, after)
        return record

    async def ban(self, participant_id: str, reason: str = "") -> ParticipantRecord:
        """Off the board, waiting job cancelled, further prompts refused (BANNED)."""
        return await self._flag_participant(
            participant_id, "banned", "1", "participant.ban", reason
        )

    async def unban(self, participant_id: str) -> ParticipantRecord:
        return await self._flag_participant(participant_id, "banned", "", "participant.unban")

    async def set_staff(self, participant_id: str, staff: bool) -> ParticipantRecord:
        """Staff play normally but are never ranked, exported or drawn in a raffle."""
        return await self._flag_participant(
            participant_id, "staff", "1" if staff else "", "participant.staff"
        )

    # ---------------------------------------------------------------- raffles
    async def prepare_raffle(
        self, event_id: str, *, count: int, top: int | None = None, seed: str | None = None
    ) -> Raffle:
        """Fix candidates and seed, and show them, before anything is drawn."""
        await self.event(event_id)
        raffle = await self.raffles.prepare(event_id, count=count, top=top, seed=seed)
        await self._record("raffle.prepare", event_id, raffle.id, after=raffle.summary())
        return raffle

    async def raffle(self, raffle_id: str) -> Raffle:
        return await found(self.raffles.get(check_id(raffle_id, "a raffle")), "raffle")

    async def draw_raffle(self, raffle_id: str) -> Raffle:
        before = await self.raffle(raffle_id)
        after = await self.raffles.draw(raffle_id)
        await self._record(
            "raffle.draw", after.event_id, raffle_id, before.summary(), after.summary()
        )
        return after

    async def redraw_raffle(self, raffle_id: str, absent: Sequence[str]) -> Raffle:
        """Replace absent winners with the next in draw order."""
        before = await self.raffle(raffle_id)
        after = await self.raffles.redraw(raffle_id, absent)
        await self._record(
            "raffle.redraw", after.event_id, raffle_id, before.summary(), after.summary()
        )
        return after

    # ---------------------------------------------------------------- exports
    async def export(
        self,
        kind: ExportKind,
        fmt: Format,
        *,
        event_id: str | None,
        top: int | None = None,
        base_url: str = "",
    ) -> str:
        """An export as CSV or JSON text; the export itself is audited too."""
        if top is not None and top < 1:
            raise invalid_input(f"expected top to be at least 1, got {top}", field="top")
        event = None if event_id is None else await self.event(event_id)
        info = None if event is None else event_info(event)
        if kind == "audit":
            entries = await self.audit.everything(event_id=event_id)
            text = render(kind, audit_rows(entries), AUDIT_COLUMNS, fmt, info)
        elif event is None:
            raise invalid_input(f"the {kind} export needs an event", field="eventId")
        elif kind == "winners":
            rows = await winner_rows(self.store, event.id, top=top, base_url=base_url)
            text = render(kind, rows, WINNER_COLUMNS, fmt, info)
        else:
            rows = await submission_rows(self.store, event.id, base_url=base_url)
            text = render(kind, rows, SUBMISSION_COLUMNS, fmt, info)
        after = {"format": fmt, "top": top}
        await self._record(f"export.{kind}", event_id or "", event_id or "", after=after)
        return text

    async def drawings(self, event_id: str, *, base_url: str = "") -> tuple[str, dict[str, Path]]:
        """Every drawing of an event: the CSV manifest and the files it names (for a zip)."""
        event = await self.event(event_id)
        rows, files = await drawing_rows(self.store, self.images, event.id, base_url=base_url)
        await self._record("export.drawings", event.id, event.id, after={"format": "zip"})
        return render("drawings", rows, DRAWING_COLUMNS, "csv", None), files

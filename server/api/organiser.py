"""What organisers call: events, moderation, participants, raffles, the audit log, and
the live board whatever the public sees.

Every field here but ``organiser`` and ``organiserLogin`` sits behind
:class:`IsOrganiser`, which authenticates the caller and leaves their
:class:`~server.organiser.console.Console` on the context; the resolvers act through
it, so every action is audited.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import Any

import strawberry
from graphql import GraphQLErrorExtensions
from strawberry.permission import BasePermission
from strawberry.types.field import StrawberryField

from server.api.organiser_types import (
    AuditEntryView,
    ModeratedSubmission,
    Organiser,
    OrganiserSession,
    Player,
    RaffleView,
    player_of,
)
from server.api.types import (
    ContextInfo,
    Event,
    Leaderboard,
    bounded,
    event_of,
    event_record,
    leaderboard_of,
)
from server.errors import ApiError
from server.organiser import auth
from server.organiser.audit import Actor, AuditLog
from server.organiser.console import check_id
from server.organiser.inputs import clean_text, picture_from_base64

ORGANISER_NAME_MAX_CHARS = 40


class IsOrganiser(BasePermission):
    """Lets a logged-in organiser through and leaves their console on the context
    (:attr:`Context.console <server.api.context.Context.console>`).

    A refusal is raised rather than returned: it says why, as UNAUTHENTICATED (no
    token, or a session that ended) or FORBIDDEN (a cookie from another site's page).
    ``message`` and ``error_extensions`` are what strawberry would say if it ever
    returned False.
    """

    message = "this needs an organiser login (organiserLogin)"
    error_extensions: GraphQLErrorExtensions | None = {"code": "UNAUTHENTICATED"}  # noqa: RUF012

    async def has_permission(self, source: Any, info: ContextInfo, **kwargs: Any) -> bool:
        await info.context.authenticate_organiser()
        return True


ORGANISER: list[type[BasePermission]] = [IsOrganiser]


def organiser_field(resolver: Callable[..., Awaitable[Any]]) -> StrawberryField:
    """A query field for organisers only (behind :class:`IsOrganiser`)."""
    return strawberry.field(resolver, permission_classes=ORGANISER)


def organiser_mutation(resolver: Callable[..., Awaitable[Any]]) -> StrawberryField:
    """A mutation for organisers only (behind :class:`IsOrganiser`)."""
    return strawberry.mutation(resolver, permission_classes=ORGANISER)


def organiser_subscription(resolver: Callable[..., AsyncIterator[Any]]) -> StrawberryField:
    """A subscription for organisers only (behind :class:`IsOrganiser`)."""
    return strawberry.subscription(resolver, permission_classes=ORGANISER)


async def _live_leaderboard(info: ContextInfo, event_id: str, first: int) -> Leaderboard:
    """The live standings, whatever the public sees."""
    snapshot = await info.context.broadcaster.compute(event_id, 0, live=True)
    return leaderboard_of(snapshot, first)


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

    @organiser_field
    async def events(self, info: ContextInfo) -> list[Event]:
        return [await event_of(info, r) for r in await info.context.resources.store.events()]

    @organiser_field
    async def organiser_leaderboard(
        self, info: ContextInfo, event_id: strawberry.ID | None = None, first: int = 10
    ) -> Leaderboard:
        """The live standings, also while the public board is frozen."""
        first = bounded("first", first, info.context.settings.leaderboard_max_first)
        record = await event_record(info, event_id)
        return await _live_leaderboard(info, record.id, first)

    @organiser_field
    async def participants(
        self,
        info: ContextInfo,
        event_id: strawberry.ID | None = None,
        search: str = "",
        first: int = 50,
    ) -> list[Player]:
        """Participants whose nickname contains ``search`` (any case), in joining order."""
        first = bounded("first", first, 500)
        record = await event_record(info, event_id)
        needle = search.casefold()
        everyone = await info.context.resources.store.participants(record.id)
        chosen = [p for p in everyone if needle in p.nickname.casefold()][:first]
        return [await player_of(info, p) for p in chosen]

    @organiser_field
    async def participant(self, info: ContextInfo, id: strawberry.ID) -> Player | None:
        record = await info.context.resources.store.participant(check_id(str(id), "a participant"))
        return None if record is None else await player_of(info, record)

    @organiser_field
    async def claim(
        self, info: ContextInfo, code: str, event_id: strawberry.ID | None = None
    ) -> Player | None:
        """Whose prize claim code this is."""
        record = await event_record(info, event_id)
        store = info.context.resources.store
        player = await store.participant_by_claim_code(record.id, code.strip()[:16])
        return None if player is None else await player_of(info, player)

    @organiser_field
    async def latest_submissions(
        self, info: ContextInfo, event_id: strawberry.ID | None = None, first: int = 20
    ) -> list[ModeratedSubmission]:
        """The latest drawings, hidden and held ones included: what moderators watch."""
        first = bounded("first", first, 50)
        record = await event_record(info, event_id)
        latest = await info.context.resources.store.latest(record.id, first)
        return [ModeratedSubmission.of(r) for r in latest]

    @organiser_field
    async def review_queue(
        self, info: ContextInfo, event_id: strawberry.ID | None = None, first: int = 20
    ) -> list[ModeratedSubmission]:
        """Drawings held for review, oldest first."""
        first = bounded("first", first, 100)
        record = await event_record(info, event_id)
        held = await info.context.resources.store.review_queue(record.id, first)
        return [ModeratedSubmission.of(r) for r in held]

    @organiser_field
    async def audit_log(
        self,
        info: ContextInfo,
        event_id: strawberry.ID | None = None,
        first: int = 50,
        before: str | None = None,
    ) -> list[AuditEntryView]:
        """Organiser actions, newest first; ``before``: an entry id, for the next page."""
        console = info.context.console
        first = bounded("first", first, 500)
        entries = await console.audit.entries(
            event_id=None if event_id is None else str(event_id), first=first, before=before
        )
        return [AuditEntryView.of(e) for e in entries]

    @organiser_field
    async def raffles(
        self, info: ContextInfo, event_id: strawberry.ID | None = None
    ) -> list[RaffleView]:
        console = info.context.console
        record = await event_record(info, event_id)
        return [RaffleView.of(r) for r in await console.raffles.of_event(record.id)]

    @organiser_field
    async def raffle(self, info: ContextInfo, id: strawberry.ID) -> RaffleView | None:
        console = info.context.console
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

    @organiser_mutation
    async def organiser_logout(self, info: ContextInfo) -> bool:
        """End the caller's organiser session (the token IsOrganiser let through)."""
        ctx = info.context
        await ctx.console.audit.record(ctx.console.actor, "organiser.logout")
        if ctx.response is not None:
            auth.clear_cookie(ctx.response)
        presented = auth.presented_token(ctx.connection, ctx.connection_params)
        return presented is not None and await auth.logout(ctx.resources.redis, presented[0])

    @organiser_mutation
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
        console = info.context.console
        target = (
            None
            if target_image_base64 is None
            else picture_from_base64(
                target_image_base64, console.settings.target_max_bytes, "imageBase64"
            )
        )
        record = await console.create_event(
            title,
            target=target,
            opens_at=opens_at,
            closes_at=closes_at,
            hold_for_review=hold_for_review,
            make_current=make_current,
        )
        return await event_of(info, record)

    @organiser_mutation
    async def update_event(
        self,
        info: ContextInfo,
        id: strawberry.ID,
        title: str | None = None,
        hold_for_review: bool | None = None,
        join_captcha: bool | None = None,
    ) -> Event:
        """Change what is given; ``joinCaptcha`` makes joining need a solved captcha."""
        console = info.context.console
        record = await console.update_event(
            str(id), title=title, hold_for_review=hold_for_review, join_captcha=join_captcha
        )
        return await event_of(info, record)

    @organiser_mutation
    async def reveal_prompts(
        self, info: ContextInfo, event_id: strawberry.ID | None = None, top: int = 10
    ) -> Event:
        """The closing moment: every board shows the prompts of the best ``top`` entries
        (0 takes the reveal back). Audited."""
        console = info.context.console
        record = await event_record(info, event_id)
        return await event_of(info, await console.reveal_prompts(record.id, top))

    @organiser_mutation
    async def set_event_schedule(
        self,
        info: ContextInfo,
        id: strawberry.ID,
        opens_at: float | None = None,
        closes_at: float | None = None,
    ) -> Event:
        """When the event takes entries (unix seconds); null leaves that side open."""
        console = info.context.console
        return await event_of(info, await console.set_schedule(str(id), opens_at, closes_at))

    @organiser_mutation
    async def set_event_target(
        self, info: ContextInfo, id: strawberry.ID, image_base64: str
    ) -> Event:
        """A new target picture (PNG, JPEG, WebP, ... as base64), before any submission."""
        console = info.context.console
        most = console.settings.target_max_bytes
        picture = picture_from_base64(image_base64, most, "imageBase64")
        return await event_of(info, await console.set_target(str(id), picture))

    @organiser_mutation
    async def open_event(self, info: ContextInfo, id: strawberry.ID) -> Event:
        return await event_of(info, await info.context.console.open_event(str(id)))

    @organiser_mutation
    async def close_event(self, info: ContextInfo, id: strawberry.ID) -> Event:
        return await event_of(info, await info.context.console.close_event(str(id)))

    @organiser_mutation
    async def set_current_event(self, info: ContextInfo, id: strawberry.ID) -> Event:
        return await event_of(info, await info.context.console.set_current_event(str(id)))

    @organiser_mutation
    async def freeze_leaderboard(
        self, info: ContextInfo, event_id: strawberry.ID | None = None, at: float | None = None
    ) -> Event:
        """The public sees the standings of ``at`` (unix seconds; default now) until
        ``unfreezeLeaderboard``; organisers keep seeing live ones."""
        console = info.context.console
        record = await event_record(info, event_id)
        return await event_of(info, await console.freeze(record.id, at))

    @organiser_mutation
    async def unfreeze_leaderboard(
        self, info: ContextInfo, event_id: strawberry.ID | None = None
    ) -> Event:
        """The reveal: the public sees live standings again."""
        console = info.context.console
        record = await event_record(info, event_id)
        return await event_of(info, await console.unfreeze(record.id))

    @organiser_mutation
    async def hide_submission(
        self, info: ContextInfo, id: strawberry.ID, reason: str = ""
    ) -> ModeratedSubmission:
        """Off every public board at once; the author's best is recomputed. Reversible."""
        console = info.context.console
        return ModeratedSubmission.of(await console.hide(str(id), reason))

    @organiser_mutation
    async def unhide_submission(self, info: ContextInfo, id: strawberry.ID) -> ModeratedSubmission:
        return ModeratedSubmission.of(await info.context.console.unhide(str(id)))

    @organiser_mutation
    async def approve_submission(
        self, info: ContextInfo, id: strawberry.ID
    ) -> ModeratedSubmission:
        """Let a drawing held for review onto the public board."""
        return ModeratedSubmission.of(await info.context.console.approve(str(id)))

    @organiser_mutation
    async def ban_participant(
        self, info: ContextInfo, id: strawberry.ID, reason: str = ""
    ) -> Player:
        """Off the board, waiting job cancelled, further prompts refused (BANNED)."""
        console = info.context.console
        return await player_of(info, await console.ban(str(id), reason))

    @organiser_mutation
    async def unban_participant(self, info: ContextInfo, id: strawberry.ID) -> Player:
        return await player_of(info, await info.context.console.unban(str(id)))

    @organiser_mutation
    async def set_staff(
        self, info: ContextInfo, id: strawberry.ID, staff: bool = True
    ) -> Player:
        """Staff play normally but are never ranked, exported or drawn in a raffle."""
        return await player_of(info, await info.context.console.set_staff(str(id), staff))

    @organiser_mutation
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
        console = info.context.console
        record = await event_record(info, event_id)
        raffle = await console.prepare_raffle(record.id, count=count, top=top, seed=seed)
        return RaffleView.of(raffle)

    @organiser_mutation
    async def draw_raffle(self, info: ContextInfo, id: strawberry.ID) -> RaffleView:
        """Draw a prepared raffle: the ``count`` lowest tickets win."""
        return RaffleView.of(await info.context.console.draw_raffle(str(id)))

    @organiser_mutation
    async def redraw_raffle(
        self, info: ContextInfo, id: strawberry.ID, absent: list[strawberry.ID]
    ) -> RaffleView:
        """Strike out absent winners; the next tickets in order take their places."""
        console = info.context.console
        return RaffleView.of(await console.redraw_raffle(str(id), [str(a) for a in absent]))


@strawberry.type
class OrganiserSubscription:
    @organiser_subscription
    async def organiser_leaderboard(
        self, info: ContextInfo, event_id: strawberry.ID | None = None, first: int = 10
    ) -> AsyncGenerator[Leaderboard, None]:
        """The live standings, again on every change, also while the public is frozen."""
        first = bounded("first", first, info.context.settings.leaderboard_max_first)
        record = await event_record(info, event_id)
        async for _ in info.context.resources.broadcaster.board_updates(record.id):
            yield await _live_leaderboard(info, record.id, first)

    @organiser_subscription
    async def moderation_feed(
        self, info: ContextInfo, event_id: strawberry.ID | None = None, first: int = 20
    ) -> AsyncGenerator[list[ModeratedSubmission], None]:
        """The latest drawings with prompts and moderation state, again on every change."""
        first = bounded("first", first, 50)
        record = await event_record(info, event_id)
        store = info.context.resources.store
        async for _ in info.context.resources.broadcaster.board_updates(record.id):
            yield [ModeratedSubmission.of(r) for r in await store.latest(record.id, first)]

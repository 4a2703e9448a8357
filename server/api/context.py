"""What a resolver can reach: the process's resources and this request's caller."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import HTTPConnection
from starlette.responses import Response

from server.abuse.captcha import Ticket
from server.errors import ApiError
from server.live.board import Broadcaster, Snapshot
from server.organiser import auth
from server.organiser.console import Console
from server.resources import Resources
from server.settings import Settings
from server.state.events import EventRecord
from server.state.part import NotFound
from server.state.participants import ParticipantRecord
from server.state.store import Store

SESSION_COOKIE = "lookalike_session"


@dataclass
class Context:
    """Built once per HTTP request, and once per WebSocket connection."""

    resources: Resources
    connection: HTTPConnection
    response: Response | None
    connection_params: dict[str, Any] = field(default_factory=dict)
    _participant: ParticipantRecord | None = None
    _looked_up: bool = False
    _client_ip: str | None = None
    snapshots: dict[str, asyncio.Future[Snapshot]] = field(default_factory=dict)
    """Boards read in this operation (:meth:`board_snapshot`); emptied per operation."""
    _console: Console | None = None

    @property
    def settings(self) -> Settings:
        return self.resources.settings

    @property
    def store(self) -> Store:
        return self.resources.store

    @property
    def broadcaster(self) -> Broadcaster:
        return self.resources.broadcaster

    @property
    def client_ip(self) -> str:
        """The client's address (the same for the whole request or WebSocket)."""
        if self._client_ip is None:
            self._client_ip = self.resources.client_ip(self.connection)
        return self._client_ip

    async def board_snapshot(self, event_id: str | None) -> Snapshot:
        """The public board of the event (None: the current one), read once per
        operation however many fields ask for it: a query may alias ``leaderboard`` many
        times, and each read is several Redis round trips. Concurrent fields share one
        read in flight."""
        key = "" if event_id is None else event_id
        pending = self.snapshots.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self._read_board(event_id))
            self.snapshots[key] = pending
        return await asyncio.shield(pending)

    async def _read_board(self, event_id: str | None) -> Snapshot:
        if event_id is None:
            event_id = (await self.current_event()).id
        return await self.broadcaster.compute(event_id, 0)

    async def authenticate_organiser(self) -> Console:
        """The calling organiser's console, kept as :attr:`console`; UNAUTHENTICATED or
        FORBIDDEN for anyone else. Checked afresh on every call (a WebSocket outlives
        a logout)."""
        self._console = await auth.organiser_console(
            self.resources, self.connection, self.connection_params
        )
        return self._console

    @property
    def console(self) -> Console:
        """The organiser's actions, as the caller: on the fields that
        :class:`server.api.organiser.IsOrganiser` guards, which authenticated them."""
        if self._console is None:
            raise RuntimeError("an organiser field without the IsOrganiser permission")
        return self._console

    async def current_event(self) -> EventRecord:
        event_id = await self.resources.store.current_event_id()
        if event_id is None:
            raise ApiError("NOT_FOUND", "no event is running yet")
        try:
            return await self.resources.store.event(event_id)
        except NotFound as exc:
            raise ApiError("NOT_FOUND", "the current event does not exist") from exc

    def _token(self) -> str | None:
        found = auth.presented(
            self.connection, self.connection_params, names=("token",), cookie=SESSION_COOKIE
        )
        return None if found is None else found[0]

    async def participant(self) -> ParticipantRecord | None:
        """The caller's participant, from a bearer token, WS payload or cookie."""
        if not self._looked_up:
            token = self._token()
            if token is not None and len(token) <= auth.MAX_TOKEN_CHARS:
                self._participant = await self.resources.store.participant_for_token(token)
            self._looked_up = True
        return self._participant

    async def require_participant(self) -> ParticipantRecord:
        record = await self.participant()
        if record is None:
            raise no_session()
        return record

    def session(self) -> str:
        """The caller's session token, to be looked up; ``UNAUTHENTICATED`` without one."""
        token = self._token()
        if token is None or len(token) > auth.MAX_TOKEN_CHARS:
            raise no_session()
        return token

    async def caller(self) -> tuple[ParticipantRecord, EventRecord]:
        """The caller's participant and event, read afresh in one round trip, even on a
        long-lived WebSocket, so that a ban or a closed event applies to the very next
        command. ``UNAUTHENTICATED`` without a valid session."""
        found = await self.resources.store.caller(self.session())
        if found is None:
            raise no_session()
        participant, event = found
        self._participant, self._looked_up = participant, True
        if event is None:
            raise NotFound(f"no event {participant.event_id!r}")
        return participant, event

    def remember_session(self, token: str) -> None:
        """Give a browser its session as an HttpOnly cookie (HTTP only; WS has no response)."""
        self._participant, self._looked_up = None, False
        self.connection_params = {**self.connection_params, "token": token}
        if self.response is not None:
            self.response.set_cookie(
                SESSION_COOKIE,
                token,
                max_age=7 * 24 * 3600,
                httponly=True,
                samesite="lax",
                secure=self.connection.url.scheme == "https",
            )

    async def admit(
        self, participant: ParticipantRecord | None, captcha: str | None
    ) -> Ticket | None:
        """The captcha, identical for HTTP and WebSocket callers (see
        :meth:`Resources.admit`: a ticket comes back for the store to claim)."""
        return await self.resources.admit(participant, captcha, self.client_ip)


def no_session() -> ApiError:
    return ApiError("UNAUTHENTICATED", "join with a nickname first (no valid session)")

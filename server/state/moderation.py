"""Moderation: hiding drawings and pictures, holding them for review, staff and banned
participants; each change re-places the participants concerned on the live and frozen
boards in the same script (``server/state/lua/leaderboard.lua``)."""

from __future__ import annotations

import functools
import time
from typing import Literal, cast

from server.state import keys
from server.state.part import NotFound, Part, num
from server.state.scripts import Script, lua
from server.state.submissions import SubmissionRecord, read_submissions


def _board_keys(event_id: str) -> list[str]:
    """The keys a moderation script re-places a participant on, in the scripts' order."""
    return [
        keys.event(event_id),
        keys.board(event_id),
        keys.best(event_id),
        keys.frozen_board(event_id),
        keys.frozen_best(event_id),
    ]


class Moderation(Part):
    """Organisers' moderation of submissions, pictures and participants."""

    @functools.cached_property
    def _moderate_submission(self) -> Script:
        return self.scripts.register(lua("keys", "leaderboard", "moderate_submission"))

    @functools.cached_property
    def _moderate_participant(self) -> Script:
        return self.scripts.register(lua("keys", "leaderboard", "moderate_participant"))

    async def _event_of(self, record_key: str, kind: str) -> str:
        """The event a submission or participant hash belongs to."""
        event_id = cast(str | None, await self.redis.hget(record_key, "event_id"))
        if event_id is None:
            raise NotFound(f"no {kind} {record_key.rsplit(':', 1)[-1]!r}")
        return event_id

    async def set_submission_flag(
        self, submission_id: str, field: Literal["hidden", "review"], value: str
    ) -> str:
        """Set a submission's moderation field ('' clears it) and re-place its participant
        on the live and frozen boards, atomically. Returns the previous value.

        Raises:
            NotFound: there is no such submission.
        """
        event_id = await self._event_of(keys.submission(submission_id), "submission")
        reply = await self._moderate_submission(
            keys=[
                keys.submission(submission_id),
                *_board_keys(event_id),
                keys.review_queue(event_id),
                keys.event_channel(event_id),
                keys.HIDDEN_IMAGES,
            ],
            args=[keys.LUA_KEY_FORMATS, submission_id, field, value],
        )
        if reply is None:
            raise NotFound(f"no submission {submission_id!r}")
        return cast(str, reply[0])

    async def set_participant_flag(
        self, participant_id: str, field: Literal["staff", "banned"], value: str
    ) -> tuple[str, str]:
        """Set a participant's ``staff`` or ``banned`` flag ('' clears it) and re-place
        them on the boards, atomically; a ban also cancels their waiting submission.

        Returns:
            The previous value, and the id of the submission a ban cancelled (or '').

        Raises:
            NotFound: there is no such participant.
        """
        event_id = await self._event_of(keys.participant(participant_id), "participant")
        reply = await self._moderate_participant(
            keys=[
                keys.participant(participant_id),
                *_board_keys(event_id),
                keys.event_channel(event_id),
                keys.JOBS,
                keys.QUEUE,
            ],
            args=[keys.LUA_KEY_FORMATS, participant_id, field, value, num(time.time())],
        )
        if reply is None:
            raise NotFound(f"no participant {participant_id!r}")
        return cast(str, reply[0]), cast(str, reply[1])

    async def review_queue(self, event_id: str, first: int) -> list[SubmissionRecord]:
        """Finished drawings waiting for approval, oldest first (hidden ones left out)."""
        if first <= 0:
            return []
        ids = cast(list[str], await self.redis.zrange(keys.review_queue(event_id), 0, first - 1))
        return [r for r in await read_submissions(self.redis, ids) if not r.hidden]

    async def latest(self, event_id: str, first: int) -> list[SubmissionRecord]:
        """The latest drawings, hidden and held ones too: what moderators look through."""
        if first <= 0:
            return []
        ids = cast(list[str], await self.redis.lrange(keys.recent(event_id), 0, first - 1))
        return await read_submissions(self.redis, ids)

    async def image_hidden(self, image_key: str) -> bool:
        """Whether an organiser hid the picture with this key."""
        return bool(await self.redis.sismember(keys.HIDDEN_IMAGES, image_key))

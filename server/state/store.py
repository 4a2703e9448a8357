"""Contest state in Redis: the :class:`Store`, one per process, shared by all requests.

Its operations are grouped by noun, one module each (records next to their operations):

* :mod:`server.state.events` — events, their phase and counters, the current event
* :mod:`server.state.participants` — joining, sessions, claim codes
* :mod:`server.state.submissions` — recording a submission (the caller's checks, dedup,
  the queue bound) and reading submissions
* :mod:`server.state.queue` — the job queue, workers, a job's start, result or failure
* :mod:`server.state.board` — the public and live boards, standings, freezing
* :mod:`server.state.moderation` — hiding, review, staff and bans

State changes that must be atomic (a submission with its dedup decision and its job; a
result with the leaderboard update and the notifications) run as Lua scripts, so two
servers or two workers racing each other cannot leave half-written state, and recording
the same result twice changes nothing. Every key name comes from :mod:`server.state.keys`.
"""

from __future__ import annotations

import redis.asyncio

from server.state.board import Board
from server.state.moderation import Moderation
from server.state.participants import SESSION_IDLE_S, Participants
from server.state.queue import Queue
from server.state.scripts import Scripts
from server.state.submissions import Submissions


class Store(Board, Participants, Submissions, Queue, Moderation):
    """Typed access to the contest state: every part's operations on one Redis client."""

    def __init__(
        self, client: redis.asyncio.Redis, *, session_idle_s: float = SESSION_IDLE_S
    ) -> None:
        self.redis = client
        self.scripts = Scripts(client)
        self.session_idle_s = session_idle_s

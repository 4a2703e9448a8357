"""Contest state in Redis: events, participants, submissions and the leaderboard.

State changes that must be atomic (a submission with its dedup decision and its job; a
result with the leaderboard update and the notifications) run as Lua scripts, so two
servers or two workers racing each other cannot leave half-written state, and recording
the same result twice changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, cast

import redis.asyncio

from pipelines.messages import Job
from server.abuse.captcha.base import Ticket
from server.abuse.limits import GCRA_FUNCTION, Limit, rate_params
from server.ids import new_id
from server.state import keys, leaderboard
from server.state.scripts import Scripts

Status = Literal["QUEUED", "GENERATING", "DONE", "FAILED"]
RECENT_KEPT = 50
SESSION_IDLE_S = 24 * 3600.0  # a participant session unused this long expires
# Claim codes: no 0/O, 1/I/L or 5/S, to read out loud across a noisy booth.
CLAIM_ALPHABET = "ABCDEFGHJKMNPQRTUVWXYZ2346789"
CLAIM_CODE_LENGTH = 6


class NotFound(LookupError):
    """No record with that id."""


class InFlight(Exception):
    """The participant's previous submission is still waiting for its drawing."""

    def __init__(self, submission_id: str) -> None:
        super().__init__(f"submission {submission_id} is still in flight")
        self.submission_id = submission_id


class QueueFull(Exception):
    """A new job would wait longer than the configured bound."""

    def __init__(self, depth: int, job_seconds: float = 0.0, workers: int = 0) -> None:
        super().__init__(f"{depth} jobs are waiting")
        self.depth = depth
        self.job_seconds = job_seconds  # the measured speed the bound was computed with
        self.workers = workers  # live workers then


class Banned(Exception):
    """An organiser has stopped the participant from playing."""


class NoCaller(LookupError):
    """No participant for the session token given."""


class EventClosed(Exception):
    """The event takes no entries now: closed, or (with ``opens_at``) not open yet."""

    def __init__(self, opens_at: float | None = None) -> None:
        super().__init__("the event is not open" if opens_at else "the event is closed")
        self.opens_at = opens_at


class TicketUsed(Exception):
    """The captcha ticket given with a submission was claimed before."""


class RateLimited(Exception):
    """A rate limit said no; ``wait`` seconds until it would say yes."""

    def __init__(self, wait: float) -> None:
        super().__init__(f"rate limited for {wait:.3f} s")
        self.wait = wait


@dataclass(frozen=True)
class QueueState:
    enqueued: int
    started: int
    job_seconds: float  # moving average of GPU seconds per job; 0 before the first batch

    @property
    def depth(self) -> int:
        return max(self.enqueued - self.started, 0)


Phase = Literal["SCHEDULED", "OPEN", "CLOSED"]
Review = Literal["", "PENDING", "APPROVED"]


@dataclass(frozen=True)
class EventRecord:
    id: str
    title: str
    target_key: str
    status: Literal["OPEN", "CLOSED"]  # as set by an organiser; see :meth:`phase`
    created_at: float
    opens_at: float | None = None
    closes_at: float | None = None
    hold_for_review: bool = False  # new drawings reach the public board once approved
    frozen_at: float | None = None  # the public board shows the standings of this time
    revealed_top: int = 0  # the prompts of the best this many are public (organiser reveal)
    join_captcha: bool = False  # joining needs a solved captcha

    def prompts_public(self, now: float, on_close: int) -> int:
        """How many of the best entries show their prompts at ``now``: the organisers'
        reveal, or once the event is closed the ``on_close`` setting (0: none)."""
        if self.revealed_top:
            return self.revealed_top
        return on_close if self.phase(now) == "CLOSED" else 0

    def phase(self, now: float) -> Phase:
        """Whether the event takes entries at ``now``: its status and its schedule.
        (The submission script applies the same rule in Lua.)"""
        if self.status == "CLOSED" or (self.closes_at is not None and now >= self.closes_at):
            return "CLOSED"
        if self.opens_at is not None and now < self.opens_at:
            return "SCHEDULED"
        return "OPEN"

    def frozen(self, now: float) -> bool:
        """Whether the public sees frozen standings at ``now``."""
        return self.frozen_at is not None and self.frozen_at <= now

    @classmethod
    def from_hash(cls, data: dict[str, str]) -> EventRecord:
        return cls(
            id=data["id"],
            title=data["title"],
            target_key=data["target_key"],
            status="CLOSED" if data.get("status") == "CLOSED" else "OPEN",
            created_at=float(data["created_at"]),
            opens_at=_optional_float(data.get("opens_at")),
            closes_at=_optional_float(data.get("closes_at")),
            hold_for_review=data.get("hold") == "1",
            frozen_at=_optional_float(data.get("frozen_at")),
            revealed_top=int(data.get("revealed_top") or 0),
            join_captcha=data.get("join_captcha") == "1",
        )


@dataclass(frozen=True)
class ParticipantRecord:
    id: str
    event_id: str
    nickname: str
    created_at: float
    staff: bool = False  # plays normally, never ranked or exported
    banned: bool = False
    claim_code: str = ""  # shown on the phone; booth staff match it to hand over a prize
    contact: str = ""  # given at join with consent; only the winners export has it

    @classmethod
    def from_hash(cls, data: dict[str, str]) -> ParticipantRecord:
        return cls(
            id=data["id"],
            event_id=data["event_id"],
            nickname=data["nickname"],
            created_at=float(data["created_at"]),
            staff=data.get("staff") == "1",
            banned=data.get("banned") == "1",
            claim_code=data.get("claim_code", ""),
            contact=data.get("contact", ""),
        )


@dataclass(frozen=True)
class SubmissionRecord:
    id: str
    event_id: str
    participant_id: str
    nickname: str
    prompt: str  # as typed (trimmed), shown back to people
    normalised: str  # what is drawn
    prompt_key: str  # dedup identity
    seed: int
    status: Status
    deduplicated: bool
    canonical_id: str  # the submission whose drawing this one shows (itself if drawn)
    score: float | None
    image_key: str | None
    model_version: str
    error: str
    created_at: float
    finished_at: float | None
    seq: int  # place in the global job order (queue position = seq - jobs started)
    hidden: bool = False  # by an organiser: off every public board, reversibly
    review: Review = ""  # PENDING: held for an organiser's approval
    target_key: str = ""  # the target picture it was scored against
    copy: bool = False  # another participant sent this prompt first: shown, never ranked

    @property
    def shown(self) -> bool:
        """May appear publicly (its participant permitting): not hidden, not held, not
        a copy of another participant's prompt."""
        return not self.hidden and self.review != "PENDING" and not self.copy

    @classmethod
    def from_hash(cls, data: dict[str, str]) -> SubmissionRecord:
        return cls(
            id=data["id"],
            event_id=data["event_id"],
            participant_id=data["participant_id"],
            nickname=data["nickname"],
            prompt=data["prompt"],
            normalised=data["normalised"],
            prompt_key=data["prompt_key"],
            seed=int(data["seed"]),
            status=data["status"],  # type: ignore[arg-type]
            deduplicated=data.get("deduplicated") == "1",
            canonical_id=data.get("canonical") or data["id"],
            score=float(data["score"]) if data.get("score") else None,
            image_key=data.get("image_key") or None,
            model_version=data.get("model_version", ""),
            error=data.get("error", ""),
            created_at=float(data["created_at"]),
            finished_at=float(data["finished_at"]) if data.get("finished_at") else None,
            seq=int(data.get("seq", 0)),
            hidden=data.get("hidden") == "1",
            review=data.get("review", ""),  # type: ignore[arg-type]
            target_key=data.get("target_key", ""),
            copy=data.get("copy") == "1",
        )


@dataclass(frozen=True)
class Submitted:
    """A recorded submission, and the job queue as its enqueue decision saw it."""

    record: SubmissionRecord
    queue: QueueState
    workers: int  # workers with a heartbeat fresher than the stale bound


@dataclass(frozen=True)
class BoardEntry:
    submission_id: str
    participant_id: str
    nickname: str
    score: float
    image_key: str
    rank: int
    prompt: str | None = None  # only when the organisers revealed it


@dataclass(frozen=True)
class Counts:
    participants: int
    submissions: int
    drawings: int
    # Read with the counters so that a board snapshot knows whether it shows frozen
    # standings (server.live.board builds snapshots from these reads alone).
    frozen: bool = False


class FreezeRace(RuntimeError):
    """The frozen board kept changing while being read (a freeze and unfreeze racing)."""


def _optional_float(raw: str | None) -> float | None:
    return float(raw) if raw else None


# Members are UUIDv7 submission ids and scores are negated: ZRANGE 0..N is best-first and
# equal scores fall back to lexicographic member order, which is time order. Who may be
# on a board, and how results are offered to it: see server.state.leaderboard.
_OFFER = leaderboard.RULES

# The submission script reads the caller itself (one round trip, not two): the keys and
# values that depend on who calls are given with these slots, filled in by the script.
CALLER_ID = "<participant>"
"""A participant id that the submission script replaces with its caller's (in keys)."""
_EVENT_SLOT = "<event>"
_TARGET_SLOT = "<target>"
_SEED_SLOT = "<seed>"

# KEYS: prompt, submission, participant list, jobs, board, best, counts, event channel,
#       queue, workers, participant, session, event, then a captcha ticket's key if any,
#       then the rate limit keys; with CALLER_ID and _EVENT_SLOT in them for the caller's
# ARGV: sid, submission prefix, participant id ('' for the session's), now, channel
#       prefix, max queue depth, max wait in seconds ('' for no such bound), worker
#       heartbeat horizon, the hash's and the job's field/value items (each a flat JSON
#       array: one argument is much cheaper for the client to send than dozens; the job's
#       event, target and seed as slots), the ticket's ms to keep ('' for no ticket), the
#       session's idle expiry in seconds, then the rate limit parameters
#       (server.abuse.limits.rate_params)
# In this order, as if each were checked by itself just before the next:
# UNAUTHENTICATED when the session (or participant) is unknown, NO_EVENT when its event
# is gone, BANNED when an organiser banned the participant, CLOSED or SCHEDULED (detail:
# opens_at) when the event takes no entries now (EventRecord.phase); REPLAYED when the
# captcha ticket was claimed before (else it is claimed now); RATE_LIMITED (detail:
# seconds to wait) when a rate limit says no (nothing more written); otherwise the
# request is counted against its limits, and IN_FLIGHT when the participant's latest
# submission is still waiting, or BUSY when a new job would join a queue deeper than the
# bound: the given depth, and the jobs that fit in the max wait at the measured speed
# (job_seconds) with the live workers. Nothing is written before any of these refusals
# but the ones after the rate limits. A prompt that is already drawn or being drawn is
# never refused: it costs no GPU time.
# Reply: {outcome, detail, enqueued, started, job_seconds, live workers, field, value,
# ...}: the queue as the script left it (for the ETA, and BUSY's retry time), then every
# field the script set on the new submission's hash beyond the given ones (the caller's
# among them), so that nobody has to read it back.
_SUBMIT = (
    _OFFER
    + GCRA_FUNCTION
    + f"local CALLER, EVENT, TARGET = '{CALLER_ID}', '{_EVENT_SLOT}', '{_TARGET_SLOT}'\n"
    + f"local SEED = '{_SEED_SLOT}'"
    + """
local sid, prefix, pid, now, chprefix = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local max_depth = tonumber(ARGV[6])
local max_wait = tonumber(ARGV[7])
local fields, job = cjson.decode(ARGV[9]), cjson.decode(ARGV[10])
local ticket_ttl = tonumber(ARGV[11])

local queue = redis.call('HMGET', KEYS[9], 'enqueued', 'started', 'job_seconds')
local enqueued, started = tonumber(queue[1]) or 0, tonumber(queue[2]) or 0
local job_seconds = tonumber(queue[3]) or 0
local workers = redis.call('ZCOUNT', KEYS[10], ARGV[8], '+inf')
local function reply(outcome, detail, ...)
  return {outcome, detail, enqueued, started, queue[3] or '0', workers, ...}
end

-- The caller: KEYS with slots are filled in once its participant and event are known.
local function fill(key, slot, value)
  local at = string.find(key, slot, 1, true)
  if not at then return key end
  return string.sub(key, 1, at - 1) .. value .. string.sub(key, at + #slot)
end
if pid == '' then
  pid = redis.call('GET', KEYS[12])
  if pid then redis.call('EXPIRE', KEYS[12], ARGV[12]) end  -- an idle session expires
end
if not pid then return reply('UNAUTHENTICATED', '') end
local who = redis.call('HMGET', fill(KEYS[11], CALLER, pid),
                       'event_id', 'nickname', 'banned')
if not who[1] then return reply('UNAUTHENTICATED', '') end
local eid = who[1]
local event = redis.call('HMGET', fill(KEYS[13], EVENT, eid),
                         'target_key', 'status', 'opens_at', 'closes_at', 'hold', 'seed_secret')
if not event[1] then return reply('NO_EVENT', eid) end
if who[3] == '1' then return reply('BANNED', pid) end
local t = tonumber(now)
if event[2] == 'CLOSED' or (event[4] and t >= tonumber(event[4])) then
  return reply('CLOSED', '')
end
if event[3] and t < tonumber(event[3]) then return reply('SCHEDULED', event[3]) end
for i, key in ipairs(KEYS) do KEYS[i] = fill(fill(key, CALLER, pid), EVENT, eid) end
-- The seed: 52 bits of SHA-1(event secret ':' prompt key), exact as a Lua number. The
-- secret never leaves Redis, so nobody can re-draw and score prompts at home.
local prompt_key = ''
for i = 1, #fields, 2 do
  if fields[i] == 'prompt_key' then prompt_key = fields[i + 1] end
end
local seed = string.format('%.0f', tonumber(
  string.sub(redis.sha1hex((event[6] or '') .. ':' .. prompt_key), 1, 13), 16))
for i, value in ipairs(job) do
  if value == EVENT then job[i] = eid elseif value == TARGET then job[i] = event[1]
  elseif value == SEED then job[i] = seed end
end
local mine = {'event_id', eid, 'participant_id', pid, 'nickname', who[2],
              'target_key', event[1], 'seed', seed}
if event[5] == '1' then
  mine[#mine + 1], mine[#mine + 2] = 'review', 'PENDING'
end

local rate_keys, rate_params = {}, {}
for i = ticket_ttl and 15 or 14, #KEYS do rate_keys[#rate_keys + 1] = KEYS[i] end
for i = 13, #ARGV do rate_params[#rate_params + 1] = ARGV[i] end
if ticket_ttl and not redis.call('SET', KEYS[14], '1', 'NX', 'PX', ticket_ttl) then
  return reply('REPLAYED', '')
end
local wait = take_rates(rate_keys, nil, rate_params)
if wait > 0 then return reply('RATE_LIMITED', string.format('%.17g', wait)) end
local last = redis.call('LINDEX', KEYS[3], 0)
if last then
  local s = redis.call('HGET', prefix .. last, 'status')
  if s == 'QUEUED' or s == 'GENERATING' then return reply('IN_FLIGHT', last) end
end
local canonical = redis.call('GET', KEYS[1])
local state
if canonical then
  state = redis.call('HMGET', prefix .. canonical, 'status', 'score', 'image_key',
                     'model_version', 'participant_id', 'hidden')
  if not state[1] or state[1] == 'FAILED' then canonical = nil end
end
local depth = enqueued - started
if max_wait and job_seconds > 0 then
  local fit = math.max(math.floor(max_wait * math.max(workers, 1) / job_seconds), 1)
  max_depth = math.min(max_depth, fit)
end
if not canonical and depth >= max_depth then return reply('BUSY', tostring(depth)) end
redis.call('HSET', KEYS[2], unpack(fields))
redis.call('HSET', KEYS[2], unpack(mine))
redis.call('LPUSH', KEYS[3], sid)
redis.call('HINCRBY', KEYS[7], 'submissions', 1)
if not canonical then
  redis.call('SET', KEYS[1], sid)
  local seq = redis.call('HINCRBY', KEYS[9], 'enqueued', 1)
  enqueued = seq
  -- The entry id lets an organiser's ban take a job back out of the stream.
  local entry = redis.call('XADD', KEYS[4], '*', unpack(job))
  redis.call('HSET', KEYS[2], 'status', 'QUEUED', 'canonical', sid, 'deduplicated', '0',
             'seq', seq, 'entry', entry)
  redis.call('PUBLISH', KEYS[8], 'submitted')
  return reply('QUEUED', sid, 'status', 'QUEUED', 'canonical', sid, 'deduplicated', '0',
               'seq', tostring(seq), unpack(mine))
end
-- A duplicate shares the first drawing: its picture and score, and its hidden state.
-- Sent by anyone but the prompt's first sender, it is a copy, which never ranks.
local shared = {'canonical', canonical, 'deduplicated', '1'}
if state[5] ~= pid then shared[#shared + 1], shared[#shared + 2] = 'copy', '1' end
if state[6] == '1' then shared[#shared + 1], shared[#shared + 2] = 'hidden', '1' end
redis.call('HSET', KEYS[2], unpack(shared))
for _, item in ipairs(shared) do mine[#mine + 1] = item end
redis.call('SADD', duplicates_key(canonical), sid)
if state[1] == 'DONE' then
  redis.call('HSET', KEYS[2], 'status', 'DONE', 'score', state[2], 'image_key', state[3],
             'model_version', state[4], 'finished_at', now)
  redis.call('HINCRBY', KEYS[7], 'deduplicated', 1)
  queue_for_review(KEYS[2], sid, now)
  offer(KEYS[5], KEYS[6], pid, sid, state[2])
  redis.call('PUBLISH', KEYS[8], 'scored')
  return reply('DONE', canonical, 'status', 'DONE', 'score', state[2], 'image_key', state[3],
               'model_version', state[4], 'finished_at', now, unpack(mine))
end
local cseq = redis.call('HGET', prefix .. canonical, 'seq') or '0'
redis.call('HSET', KEYS[2], 'status', state[1], 'seq', cseq)
redis.call('SADD', followers_key(canonical), sid)
redis.call('PUBLISH', KEYS[8], 'submitted')
return reply('FOLLOW', canonical, 'status', state[1], 'seq', cseq, unpack(mine))
"""
)

# KEYS: a session.  ARGV: participant key prefix, event key prefix, idle expiry in seconds
# Reply: {participant hash, its event's hash (empty if gone)}, or {} for no participant.
_CALLER = """
local pid = redis.call('GET', KEYS[1])
if not pid then return {} end
redis.call('EXPIRE', KEYS[1], ARGV[3])
local participant = redis.call('HGETALL', ARGV[1] .. pid)
if #participant == 0 then return {} end
local event_id = redis.call('HGET', ARGV[1] .. pid, 'event_id') or ''
return {participant, redis.call('HGETALL', ARGV[2] .. event_id)}
"""

# KEYS: submission, followers, queue.  ARGV: sid, submission prefix, now, channel prefix
_START = """
local sid, prefix, now, chprefix = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if redis.call('HGET', KEYS[1], 'status') ~= 'QUEUED' then return 0 end
redis.call('HINCRBY', KEYS[3], 'started', 1)
redis.call('HSET', KEYS[1], 'status', 'GENERATING', 'started_at', now)
redis.call('PUBLISH', chprefix .. 'submission:' .. sid, 'GENERATING')
for _, f in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  if redis.call('HGET', prefix .. f, 'status') == 'QUEUED' then
    redis.call('HSET', prefix .. f, 'status', 'GENERATING')
    redis.call('PUBLISH', chprefix .. 'submission:' .. f, 'GENERATING')
  end
end
return 1
"""

# KEYS: submission, followers, board, best, counts, recent, event channel
# ARGV: sid, submission prefix, now, channel prefix, score, image key, model version, kept
_COMPLETE = (
    _OFFER
    + """
local sid, prefix, now, chprefix = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local score, image, version = ARGV[5], ARGV[6], ARGV[7]
local status = redis.call('HGET', KEYS[1], 'status')
if not status or status == 'DONE' or status == 'FAILED' then return 0 end
-- Hidden before it was drawn: the picture is hidden, and so are the copies waiting for it.
local hidden = redis.call('HGET', KEYS[1], 'hidden') == '1'
if hidden then redis.call('SADD', HIDDEN_IMAGES, image) end
local function finish(key, id)
  redis.call('HSET', key, 'status', 'DONE', 'score', score, 'image_key', image,
             'model_version', version, 'finished_at', now)
  if hidden then redis.call('HSET', key, 'hidden', '1') end
  queue_for_review(key, id, now)
  offer(KEYS[3], KEYS[4], redis.call('HGET', key, 'participant_id'), id, score)
  redis.call('PUBLISH', chprefix .. 'submission:' .. id, 'DONE')
end
finish(KEYS[1], sid)
redis.call('HINCRBY', KEYS[5], 'drawings', 1)
redis.call('LPUSH', KEYS[6], sid)
redis.call('LTRIM', KEYS[6], 0, tonumber(ARGV[8]) - 1)
for _, f in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  local fs = redis.call('HGET', prefix .. f, 'status')
  if fs == 'QUEUED' or fs == 'GENERATING' then
    finish(prefix .. f, f)
    redis.call('HINCRBY', KEYS[5], 'deduplicated', 1)
  end
end
redis.call('DEL', KEYS[2])
redis.call('PUBLISH', KEYS[7], 'scored')
return 1
"""
)

# KEYS: submission, followers.  ARGV: sid, submission prefix, now, channel prefix, reason
_FAIL = """
local sid, prefix, now, chprefix, reason = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local status = redis.call('HGET', KEYS[1], 'status')
if not status or status == 'DONE' or status == 'FAILED' then return 0 end
local ids = redis.call('SMEMBERS', KEYS[2])
table.insert(ids, 1, sid)
for _, id in ipairs(ids) do
  local key = prefix .. id
  local s = redis.call('HGET', key, 'status')
  if s == 'QUEUED' or s == 'GENERATING' then
    redis.call('HSET', key, 'status', 'FAILED', 'error', reason, 'finished_at', now)
    redis.call('PUBLISH', chprefix .. 'submission:' .. id, 'FAILED')
  end
end
redis.call('DEL', KEYS[2])
return 1
"""

_SUBMISSION_PREFIX = keys.submission("")
_PARTICIPANT_PREFIX = keys.participant("")
_EVENT_PREFIX = keys.event("")
_CHANNEL_PREFIX = keys.submission_channel("").removesuffix("submission:")


def _board_keys(event_id: str) -> list[str]:
    """The keys a moderation script re-places a participant on, in the scripts' order."""
    return [
        keys.event(event_id),
        keys.board(event_id),
        keys.best(event_id),
        keys.frozen_board(event_id),
        keys.frozen_best(event_id),
    ]


async def ensure_group(client: redis.asyncio.Redis) -> None:
    """Create the jobs stream and its consumer group if missing (safe to race)."""
    try:
        await client.xgroup_create(keys.JOBS, keys.JOBS_GROUP, id="0", mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _num(value: float) -> str:
    return repr(float(value))


def _queue_state(data: dict[str, str]) -> QueueState:
    return QueueState(
        enqueued=int(data.get("enqueued", 0)),
        started=int(data.get("started", 0)),
        job_seconds=float(data.get("job_seconds", 0.0)),
    )


def _pairs(flat: list[str]) -> dict[str, str]:
    """A hash from a script's flat field/value list."""
    return dict(zip(flat[::2], flat[1::2], strict=True))


_REFUSALS = frozenset(
    ("UNAUTHENTICATED", "NO_EVENT", "BANNED", "CLOSED", "SCHEDULED", "REPLAYED",
     "RATE_LIMITED", "IN_FLIGHT", "BUSY")
)  # fmt: skip


def _refusal(
    outcome: str, detail: str, ticket: Ticket | None, job_seconds: str, workers: int
) -> Exception:
    """The exception for a refusal of the submission script."""
    if outcome == "UNAUTHENTICATED":
        return NoCaller("no participant for this session")
    if outcome == "NO_EVENT":
        return NotFound(f"no event {detail!r}")
    if outcome == "BANNED":
        return Banned(f"participant {detail} is banned")
    if outcome in ("CLOSED", "SCHEDULED"):
        return EventClosed(_optional_float(detail))
    if outcome == "REPLAYED":
        return TicketUsed(ticket.key if ticket else "")
    if outcome == "RATE_LIMITED":
        return RateLimited(float(detail))
    if outcome == "IN_FLIGHT":
        return InFlight(detail)
    return QueueFull(int(detail), float(job_seconds), int(workers))


class Store:
    """Typed access to the contest state; one per process, shared by all requests."""

    def __init__(
        self, client: redis.asyncio.Redis, *, session_idle_s: float = SESSION_IDLE_S
    ) -> None:
        self.redis = client
        # A participant session unused this long expires (each use starts it again).
        self.session_idle_s = session_idle_s
        scripts = Scripts(client)
        self._submit = scripts.register(_SUBMIT)
        self._caller = scripts.register(_CALLER)
        self._start = scripts.register(_START)
        self._complete = scripts.register(_COMPLETE)
        self._fail = scripts.register(_FAIL)
        self._moderate_submission = scripts.register(leaderboard.MODERATE_SUBMISSION)
        self._moderate_participant = scripts.register(leaderboard.MODERATE_PARTICIPANT)
        self._build_frozen = scripts.register(leaderboard.BUILD_FROZEN)
        self._read = scripts.register(leaderboard.READ)
        self._standing = scripts.register(leaderboard.STANDING)

    # ----------------------------------------------------------------- events
    async def create_event(
        self,
        title: str,
        target_key: str,
        *,
        current: bool = True,
        event_id: str | None = None,
        opens_at: float | None = None,
        closes_at: float | None = None,
        hold_for_review: bool = False,
        join_captcha: bool = False,
    ) -> str:
        event_id = event_id or new_id()
        now = time.time()
        fields = {
            "id": event_id,
            "title": title,
            "target_key": target_key,
            "status": "OPEN",
            "created_at": _num(now),
            "hold": "1" if hold_for_review else "0",
            "join_captcha": "1" if join_captcha else "0",
            # Mixed into every drawing's seed (server-side only): see the submission script.
            "seed_secret": secrets.token_hex(16),
        }
        for name, value in (("opens_at", opens_at), ("closes_at", closes_at)):
            if value is not None:
                fields[name] = _num(value)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys.event(event_id), mapping=fields)
            pipe.zadd(keys.EVENTS, {event_id: now})
            if current:
                pipe.set(keys.CURRENT_EVENT, event_id)
                pipe.publish(keys.CURRENT_CHANNEL, event_id)
            await pipe.execute()
        return event_id

    async def current_event_id(self) -> str | None:
        return cast(str | None, await self.redis.get(keys.CURRENT_EVENT))

    async def set_current_event(self, event_id: str) -> None:
        await self.event(event_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(keys.CURRENT_EVENT, event_id)
            pipe.publish(keys.CURRENT_CHANNEL, event_id)
            await pipe.execute()

    async def event(self, event_id: str) -> EventRecord:
        data = cast(dict[str, str], await self.redis.hgetall(keys.event(event_id)))
        if not data:
            raise NotFound(f"no event {event_id!r}")
        return EventRecord.from_hash(data)

    async def events(self) -> list[EventRecord]:
        """Every event, oldest first."""
        ids = cast(list[str], await self.redis.zrange(keys.EVENTS, 0, -1))
        async with self.redis.pipeline(transaction=False) as pipe:
            for event_id in ids:
                pipe.hgetall(keys.event(event_id))
            rows = cast(list[dict[str, str]], await pipe.execute())
        return [EventRecord.from_hash(row) for row in rows if row]

    async def update_event(self, event_id: str, changes: Mapping[str, str | None]) -> None:
        """Set event hash fields (None removes one) and tell every open board."""
        await self.event(event_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            for name, value in changes.items():
                if value is None:
                    pipe.hdel(keys.event(event_id), name)
                else:
                    pipe.hset(keys.event(event_id), name, value)
            pipe.publish(keys.event_channel(event_id), "event")
            await pipe.execute()

    async def set_event_status(self, event_id: str, status: Literal["OPEN", "CLOSED"]) -> None:
        await self.update_event(event_id, {"status": status})

    async def counts(self, event_id: str) -> Counts:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(keys.event_counts(event_id))
            pipe.hget(keys.event(event_id), "frozen_at")
            data, frozen_at = cast(tuple[dict[str, str], str | None], await pipe.execute())
        at = _optional_float(frozen_at)
        return Counts(
            participants=int(data.get("participants", 0)),
            submissions=int(data.get("submissions", 0)),
            drawings=int(data.get("drawings", 0)),
            frozen=at is not None and at <= time.time(),
        )

    # ------------------------------------------------------------------ freeze
    async def freeze(self, event_id: str, at: float) -> None:
        """Show the public the standings of time ``at`` (past or future) until unfrozen."""
        await self.update_event(event_id, {"frozen_at": _num(at), "frozen_built": None})
        await self.build_frozen(event_id)

    async def unfreeze(self, event_id: str) -> None:
        """Show the public the live standings again."""
        await self.update_event(event_id, {"frozen_at": None, "frozen_built": None})
        await self.redis.delete(*self._frozen_keys(event_id))

    async def build_frozen(self, event_id: str) -> bool:
        """Build the frozen board if its time has come and it is not built; idempotent."""
        built = await self._build_frozen(
            keys=[
                keys.event(event_id),
                keys.nicknames(event_id),
                *self._frozen_keys(event_id)[:2],
                keys.recent(event_id),
                keys.frozen_recent(event_id),
            ],
            args=[_num(time.time())],
        )
        if built:
            await self.redis.publish(keys.event_channel(event_id), "frozen")
        return bool(built)

    @staticmethod
    def _frozen_keys(event_id: str) -> tuple[str, str, str]:
        return keys.frozen_board(event_id), keys.frozen_best(event_id), keys.frozen_recent(event_id)

    async def _read_board(
        self, event_id: str, kind: Literal["zset", "list"], stop: int, *, live: bool
    ) -> list[str]:
        """Items of the public (frozen, from the freeze time on) or live board or list."""
        live_key, frozen_key = (
            (keys.board(event_id), keys.frozen_board(event_id))
            if kind == "zset"
            else (keys.recent(event_id), keys.frozen_recent(event_id))
        )
        for _ in range(3):
            reply = await self._read(
                keys=[keys.event(event_id), live_key, frozen_key],
                args=[_num(time.time()), kind, stop, "live" if live else "public"],
            )
            if reply[0] == "OK":
                return cast(list[str], reply[1])
            await self.build_frozen(event_id)
        raise FreezeRace(f"the frozen board of {event_id} kept changing while being read")

    # ----------------------------------------------------------- participants
    async def join(
        self, event_id: str, nickname: str, nickname_key: str, *, contact: str = ""
    ) -> tuple[ParticipantRecord, str] | None:
        """Create a participant and a session token; None when the nickname is taken.

        ``contact`` is stored only when given (the caller checked the consent).
        """
        participant_id = new_id()
        if not await self.redis.hsetnx(keys.nicknames(event_id), nickname_key, participant_id):
            return None
        claim_code = await self._claim_code(event_id, participant_id)
        token = secrets.token_urlsafe(32)
        now = time.time()
        fields = {
            "id": participant_id,
            "event_id": event_id,
            "nickname": nickname,
            "created_at": _num(now),
            "claim_code": claim_code,
        }
        if contact:
            fields["contact"] = contact
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys.participant(participant_id), mapping=fields)
            pipe.set(keys.session(hash_token(token)), participant_id, ex=round(self.session_idle_s))
            pipe.hincrby(keys.event_counts(event_id), "participants", 1)
            await pipe.execute()
        await self.redis.publish(keys.event_channel(event_id), "joined")
        return ParticipantRecord.from_hash(fields), token

    async def _claim_code(self, event_id: str, participant_id: str) -> str:
        """A short code unique within the event, for handing over a prize."""
        while True:
            code = "".join(secrets.choice(CLAIM_ALPHABET) for _ in range(CLAIM_CODE_LENGTH))
            if await self.redis.hsetnx(keys.claim_codes(event_id), code, participant_id):
                return code

    async def participant_for_token(self, token: str) -> ParticipantRecord | None:
        found = await self.caller(token)
        return None if found is None else found[0]

    async def caller(self, token: str) -> tuple[ParticipantRecord, EventRecord | None] | None:
        """The participant of a session token and its event (None if gone), read together
        in one round trip; None for an unknown token."""
        reply = await self._caller(
            keys=[keys.session(hash_token(token))],
            args=[_PARTICIPANT_PREFIX, _EVENT_PREFIX, round(self.session_idle_s)],
        )
        if not reply:
            return None
        participant, event = (_pairs(cast(list[str], flat)) for flat in reply)
        return (
            ParticipantRecord.from_hash(participant),
            EventRecord.from_hash(event) if event else None,
        )

    async def participant(self, participant_id: str) -> ParticipantRecord | None:
        data = cast(dict[str, str], await self.redis.hgetall(keys.participant(participant_id)))
        return ParticipantRecord.from_hash(data) if data else None

    async def participants(self, event_id: str) -> list[ParticipantRecord]:
        """Every participant of an event, in joining order."""
        ids = cast(list[str], await self.redis.hvals(keys.nicknames(event_id)))
        async with self.redis.pipeline(transaction=False) as pipe:
            for ident in sorted(ids):
                pipe.hgetall(keys.participant(ident))
            rows = cast(list[dict[str, str]], await pipe.execute())
        return [ParticipantRecord.from_hash(row) for row in rows if row]

    async def participant_by_claim_code(self, event_id: str, code: str) -> ParticipantRecord | None:
        ident = cast(str | None, await self.redis.hget(keys.claim_codes(event_id), code.upper()))
        return None if ident is None else await self.participant(ident)

    async def standing(
        self, event_id: str, participant_id: str, *, live: bool = False
    ) -> tuple[float, int] | None:
        """(best score, 1-based rank) of a participant, or None when not on the board.

        The public standing (frozen from the freeze time on), or with ``live`` the live one.
        """
        for _ in range(3):
            reply = await self._standing(
                keys=[
                    keys.event(event_id),
                    keys.best(event_id),
                    keys.board(event_id),
                    keys.frozen_best(event_id),
                    keys.frozen_board(event_id),
                ],
                args=[_num(time.time()), participant_id, "live" if live else "public"],
            )
            if reply[0] == "OK":
                return (-float(reply[1]), int(reply[2]) + 1) if len(reply) == 3 else None
            await self.build_frozen(event_id)
        raise FreezeRace(f"the frozen board of {event_id} kept changing while being read")

    async def participant_submissions(
        self, participant_id: str, first: int
    ) -> list[SubmissionRecord]:
        ids: list[str] = await self.redis.lrange(
            keys.participant_submissions(participant_id), 0, max(first, 0) - 1
        )
        return await self.submissions(ids)

    # ------------------------------------------------------------ submissions
    async def submit(
        self,
        *,
        participant: ParticipantRecord,
        prompt: str,
        normalised: str,
        prompt_key: str,
        max_depth: int = 1 << 40,
    ) -> SubmissionRecord:
        """Record a submission of ``participant`` (in its event) atomically with its dedup
        decision and, if new, its job.

        Raises :class:`Banned`, :class:`EventClosed`, :class:`InFlight` or
        :class:`QueueFull`; then nothing was written.
        """
        submitted = await self.submit_with_queue(
            participant_id=participant.id,
            prompt=prompt,
            normalised=normalised,
            prompt_key=prompt_key,
            max_depth=max_depth,
        )
        return submitted.record

    async def submit_with_queue(
        self,
        *,
        session: str | None = None,
        participant_id: str | None = None,
        prompt: str,
        normalised: str,
        prompt_key: str,
        max_depth: int = 1 << 40,
        max_wait_s: float | None = None,
        worker_stale_s: float = 15.0,
        limits: Sequence[Limit] = (),
        ticket: Ticket | None = None,
    ) -> Submitted:
        """Like :meth:`submit`, for the participant of a ``session`` token (or of
        ``participant_id``), in one round trip that also reads the caller and its event:
        raises :class:`NoCaller` for an unknown one, :class:`NotFound` when its event is
        gone, :class:`EventClosed` when the event takes no entries now. Also answers the
        queue as the decision saw it, for an ETA.

        With ``max_wait_s``, a new job is also refused (:class:`QueueFull`) when the jobs
        waiting already take that long at the measured speed with the workers whose
        heartbeat is fresher than ``worker_stale_s``: the bound is read atomically with
        the decision. A captcha ``ticket`` is claimed (:class:`TicketUsed` if it was
        before) and the request counted against ``limits`` (:class:`RateLimited` when
        one says no; a key may hold :data:`CALLER_ID` for the caller's id) in the same
        script, after the caller's checks and before the rest.

        The seed is derived in the script from the prompt key and the event's secret.
        Using a ``session`` keeps it alive for another idle period (see :class:`Store`).
        """
        if (session is None) == (participant_id is None):
            raise TypeError("give exactly one of session and participant_id")
        sid = new_id()
        now = _num(time.time())
        fields = {
            "id": sid,
            "prompt": prompt,
            "normalised": normalised,
            "prompt_key": prompt_key,
            "seed": _SEED_SLOT,
            "status": "QUEUED",
            "created_at": now,
        }
        job = Job(
            submission_id=sid,
            event_id=_EVENT_SLOT,
            prompt=normalised,
            seed=0,  # the script fills in the seed
            target_key=_TARGET_SLOT,  # what it is scored against: for verification
        )
        flat_fields = [item for pair in fields.items() for item in pair]
        job_fields = {**job.to_fields(), "seed": _SEED_SLOT}
        flat_job = [item for pair in job_fields.items() for item in pair]
        reply = await self._submit(
            keys=[
                keys.prompt(_EVENT_SLOT, prompt_key),
                keys.submission(sid),
                keys.participant_submissions(CALLER_ID),
                keys.JOBS,
                keys.board(_EVENT_SLOT),
                keys.best(_EVENT_SLOT),
                keys.event_counts(_EVENT_SLOT),
                keys.event_channel(_EVENT_SLOT),
                keys.QUEUE,
                keys.WORKERS,
                keys.participant(CALLER_ID),
                keys.session(hash_token(session)) if session is not None else "",
                keys.event(_EVENT_SLOT),
                *([] if ticket is None else [ticket.key]),
                *(limit.key for limit in limits),
            ],
            args=[
                sid,
                _SUBMISSION_PREFIX,
                participant_id or "",
                now,
                _CHANNEL_PREFIX,
                max_depth,
                "" if max_wait_s is None else _num(max_wait_s),
                _num(time.time() - worker_stale_s),
                json.dumps(flat_fields, ensure_ascii=False),
                json.dumps(flat_job, ensure_ascii=False),
                "" if ticket is None else ticket.ttl_ms,
                round(self.session_idle_s),
                *rate_params(limits),
            ],
        )
        outcome, detail, enqueued, started, job_seconds, workers = reply[:6]
        if outcome in _REFUSALS:
            raise _refusal(outcome, detail, ticket, job_seconds, workers)
        record = SubmissionRecord.from_hash({**fields, **_pairs(reply[6:])})
        queue = QueueState(int(enqueued), int(started), float(job_seconds))
        return Submitted(record=record, queue=queue, workers=int(workers))

    async def queue_state(self) -> QueueState:
        return _queue_state(await self.redis.hgetall(keys.QUEUE))

    async def queue_and_workers(self, worker_stale_s: float) -> tuple[QueueState, int]:
        """The queue state, and how many workers sent a heartbeat in the last
        ``worker_stale_s`` seconds, in one round trip."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(keys.QUEUE)
            pipe.zcount(keys.WORKERS, _num(time.time() - worker_stale_s), "+inf")
            data, workers = cast(tuple[dict[str, str], int], await pipe.execute())
        return _queue_state(data), workers

    async def record_job_seconds(self, seconds_per_job: float, weight: float = 0.2) -> None:
        """Fold one batch's GPU seconds per job into the moving average used for ETAs."""
        current = (await self.queue_state()).job_seconds
        value = seconds_per_job
        if current > 0:
            value = (1 - weight) * current + weight * seconds_per_job
        await self.redis.hset(keys.QUEUE, "job_seconds", _num(value))

    async def submission(self, submission_id: str) -> SubmissionRecord:
        data: dict[str, str] = await self.redis.hgetall(keys.submission(submission_id))
        if not data:
            raise NotFound(f"no submission {submission_id!r}")
        return SubmissionRecord.from_hash(data)

    async def submissions(self, ids: list[str]) -> list[SubmissionRecord]:
        if not ids:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for ident in ids:
                pipe.hgetall(keys.submission(ident))
            rows: list[dict[str, str]] = await pipe.execute()
        return [SubmissionRecord.from_hash(row) for row in rows if row]

    async def start(self, submission_id: str) -> bool:
        """QUEUED → GENERATING (with its followers); False if it was not QUEUED."""
        (done,) = await self.start_many([submission_id])
        return done

    async def start_many(self, submission_ids: Sequence[str]) -> list[bool]:
        """:meth:`start` for a whole batch in one round trip: the worker does this while
        the GPU waits for the batch, so one trip per job would idle it."""
        if not submission_ids:
            return []
        now = _num(time.time())
        async with self.redis.pipeline(transaction=False) as pipe:
            for sid in submission_ids:
                await self._start.fallback(
                    keys=[keys.submission(sid), keys.followers(sid), keys.QUEUE],
                    args=[sid, _SUBMISSION_PREFIX, now, _CHANNEL_PREFIX],
                    client=pipe,
                )
            done = await pipe.execute()
        return [bool(d) for d in done]

    async def complete(
        self, submission_id: str, *, score: float, image_key: str, model_version: str
    ) -> bool:
        """Record a result; idempotent: False (and no change) if already finished."""
        event_id: str | None = await self.redis.hget(keys.submission(submission_id), "event_id")
        if event_id is None:
            return False
        done = await self._complete(
            keys=[
                keys.submission(submission_id),
                keys.followers(submission_id),
                keys.board(event_id),
                keys.best(event_id),
                keys.event_counts(event_id),
                keys.recent(event_id),
                keys.event_channel(event_id),
            ],
            args=[
                submission_id,
                _SUBMISSION_PREFIX,
                _num(time.time()),
                _CHANNEL_PREFIX,
                _num(score),
                image_key,
                model_version,
                RECENT_KEPT,
            ],
        )
        return bool(done)

    async def fail(self, submission_id: str, reason: str) -> bool:
        """End a submission (and its followers) as FAILED; a later identical prompt redraws."""
        done = await self._fail(
            keys=[keys.submission(submission_id), keys.followers(submission_id)],
            args=[submission_id, _SUBMISSION_PREFIX, _num(time.time()), _CHANNEL_PREFIX, reason],
        )
        return bool(done)

    # ------------------------------------------------------------ leaderboard
    async def leaderboard(
        self, event_id: str, first: int | None, *, live: bool = False, prompts: int = 0
    ) -> list[BoardEntry]:
        """The best ``first`` entries (None: all) of an event's board, best first; the
        best ``prompts`` of them with their prompts.

        The public board (frozen from the freeze time on), or with ``live`` the live one.
        """
        if first is not None and first <= 0:
            return []
        stop = -1 if first is None else first - 1
        flat = await self._read_board(event_id, "zset", stop, live=live)
        rows = list(zip(flat[::2], flat[1::2], strict=True))
        if not rows:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for sid, _ in rows:
                pipe.hmget(keys.submission(sid), "participant_id", "nickname", "image_key",
                           "prompt")  # fmt: skip
            details = cast(list[list[str | None]], await pipe.execute())
        return [
            BoardEntry(
                submission_id=sid,
                participant_id=pid or "",
                nickname=nickname or "",
                score=-float(score),
                image_key=image or "",
                rank=index + 1,
                prompt=prompt if index < prompts else None,
            )
            for index, ((sid, score), (pid, nickname, image, prompt)) in enumerate(
                zip(rows, details, strict=True)
            )
        ]

    async def recent(
        self, event_id: str, first: int, *, live: bool = False
    ) -> list[SubmissionRecord]:
        """The latest drawings the public may see, newest first.

        Hidden ones, ones held for review and banned or staff participants' ones are left
        out; from the freeze time on (unless ``live``), only those finished before it.
        """
        if first <= 0:
            return []
        ids = await self._read_board(event_id, "list", RECENT_KEPT - 1, live=live)
        records = [r for r in await self.submissions(ids) if r.shown]
        unranked = await self.unranked({r.participant_id for r in records})
        return [r for r in records if r.participant_id not in unranked][:first]

    async def latest(self, event_id: str, first: int) -> list[SubmissionRecord]:
        """The latest drawings, hidden and held ones too: what moderators look through."""
        if first <= 0:
            return []
        ids = cast(list[str], await self.redis.lrange(keys.recent(event_id), 0, first - 1))
        return await self.submissions(ids)

    async def unranked(self, participant_ids: set[str]) -> set[str]:
        """Those of ``participant_ids`` who never appear publicly: banned or staff."""
        ordered = sorted(participant_ids)
        async with self.redis.pipeline(transaction=False) as pipe:
            for ident in ordered:
                pipe.hmget(keys.participant(ident), "banned", "staff")
            flags = cast(list[list[str | None]], await pipe.execute())
        return {ident for ident, flag in zip(ordered, flags, strict=True) if "1" in flag}

    async def duplicates(self, submission_id: str) -> list[SubmissionRecord]:
        """Every later submission of the same prompt as this canonical one, oldest first."""
        ids = cast(list[str], await self.redis.smembers(keys.duplicates(submission_id)))
        return await self.submissions(sorted(ids))

    async def image_hidden(self, image_key: str) -> bool:
        """Whether an organiser hid the picture with this key."""
        return bool(await self.redis.sismember(keys.HIDDEN_IMAGES, image_key))

    # ------------------------------------------------------------- moderation
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
            ],
            args=[submission_id, field, value],
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
            args=[participant_id, field, value, _num(time.time())],
        )
        if reply is None:
            raise NotFound(f"no participant {participant_id!r}")
        return cast(str, reply[0]), cast(str, reply[1])

    async def review_queue(self, event_id: str, first: int) -> list[SubmissionRecord]:
        """Finished drawings waiting for approval, oldest first (hidden ones left out)."""
        if first <= 0:
            return []
        ids = cast(list[str], await self.redis.zrange(keys.review_queue(event_id), 0, first - 1))
        return [r for r in await self.submissions(ids) if not r.hidden]

    async def event_submissions(self, event_id: str) -> list[SubmissionRecord]:
        """Every submission of an event, oldest first (for exports)."""
        participants = await self.participants(event_id)
        async with self.redis.pipeline(transaction=False) as pipe:
            for participant in participants:
                pipe.lrange(keys.participant_submissions(participant.id), 0, -1)
            lists = cast(list[list[str]], await pipe.execute())
        return await self.submissions(sorted(ident for ids in lists for ident in ids))

    async def submission_count(self, participant_id: str) -> int:
        return cast(int, await self.redis.llen(keys.participant_submissions(participant_id)))

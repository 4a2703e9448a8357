"""Every Redis key and pub/sub channel name, in one place.

All keys start with ``lk:`` so that one Redis can be shared and inspected easily. The
names the GPU service shares with the server (the job and result streams, the target
pictures, the worker heartbeats) are its contract's, :mod:`pipelines.contract`, named
here again so that this module lists every key.
"""

from __future__ import annotations

import json

from pipelines import contract

JOBS = contract.JOBS
JOBS_GROUP = contract.JOBS_GROUP
RESULTS = contract.RESULTS
RESULTS_GROUP = contract.RESULTS_GROUP
ROOT = contract.ROOT
WORKERS = contract.WORKERS
target = contract.target

# --- events
CURRENT_EVENT = f"{ROOT}:current-event"
EVENTS = f"{ROOT}:events"  # sorted set: event id -> created (unix seconds)


def event(event_id: str) -> str:
    """Hash: id, title, target_key, status, created_at, hold (review), and when set
    opens_at, closes_at, frozen_at, frozen_built; see ``server.state.events.EventRecord``."""
    return f"{ROOT}:event:{event_id}"


def nicknames(event_id: str) -> str:
    """Hash: case-folded nickname -> participant id."""
    return f"{ROOT}:event:{event_id}:nicknames"


def board(event_id: str) -> str:
    """Sorted set: best submission id -> negated score.

    Members are UUIDv7 submission ids, so equal scores order by time (earliest first).
    """
    return f"{ROOT}:event:{event_id}:board"


def best(event_id: str) -> str:
    """Hash: participant id -> id of that participant's best submission on the board."""
    return f"{ROOT}:event:{event_id}:best"


def prompt(event_id: str, prompt_hash: str) -> str:
    """String: id of the canonical submission of a normalised prompt in an event."""
    return f"{ROOT}:event:{event_id}:prompt:{prompt_hash}"


def event_counts(event_id: str) -> str:
    """Hash: participants, submissions, drawings, deduplicated counters."""
    return f"{ROOT}:event:{event_id}:counts"


RECENT_KEPT = 50  # drawings a recent list keeps


def recent(event_id: str) -> str:
    """List: latest DONE submission ids, newest first (the latest :data:`RECENT_KEPT`)."""
    return f"{ROOT}:event:{event_id}:recent"


# --- participants and sessions
def participant(participant_id: str) -> str:
    """Hash: id, event_id, nickname, created_at, claim_code, and when set staff, banned,
    contact (given with consent); see ``server.state.participants.ParticipantRecord``."""
    return f"{ROOT}:participant:{participant_id}"


def participant_submissions(participant_id: str) -> str:
    """List: submission ids of a participant, newest first."""
    return f"{ROOT}:participant:{participant_id}:submissions"


def session(token_hash: str) -> str:
    """String: participant id of a session token (stored by its SHA-256, never in clear)."""
    return f"{ROOT}:session:{token_hash}"


# --- submissions and jobs
def submission(submission_id: str) -> str:
    """Hash: see ``server.state.submissions.SubmissionRecord``."""
    return f"{ROOT}:submission:{submission_id}"


def followers(submission_id: str) -> str:
    """Set: submissions waiting for the result of this (canonical) submission."""
    return f"{ROOT}:submission:{submission_id}:followers"


def duplicates(submission_id: str) -> str:
    """Set: every later submission of the same prompt as this (canonical) one: the
    author's resends and other participants' copies. They share its picture, so a
    moderation change of the picture reaches them all."""
    return f"{ROOT}:submission:{submission_id}:duplicates"


HIDDEN_IMAGES = f"{ROOT}:hidden-images"  # set: keys of pictures an organiser hid (not served)


# JOBS (stream of pipelines.contract.Job), RESULTS (what workers made of them), their
# groups, WORKERS (heartbeats) and target(key) (target pictures): see pipelines.contract.
# Hash: enqueued and started job counters (queue positions), job_seconds (EWMA of GPU
# seconds per job, for honest waiting-time estimates).
QUEUE = f"{ROOT}:queue"

# --- pub/sub: one pattern subscription per server process
CHANNEL_PATTERN = f"{ROOT}:ch:*"


# Published when the current event changes; boards without an event id follow it.
CURRENT_CHANNEL = f"{ROOT}:ch:current:event"


def event_channel(event_id: str) -> str:
    """Published when an event's leaderboard or counters may have changed."""
    return f"{ROOT}:ch:event:{event_id}"


def submission_channel(submission_id: str) -> str:
    """Published when a submission's status changes."""
    return f"{ROOT}:ch:submission:{submission_id}"


def parse_channel(channel: str) -> tuple[str, str]:
    """Split a channel name into (kind, id), e.g. ("event", "0190...")."""
    _, _, kind, ident = channel.split(":", 3)
    return kind, ident


# --- limits and captcha
def rate(scope: str, ident: str) -> str:
    """String (expiring): GCRA theoretical arrival time of one client, e.g. ("ip", addr)."""
    return f"{ROOT}:rate:{scope}:{ident}"


def audit_count(action: str, hour: int) -> str:
    """String (expiring): how often ``action`` happened in one hour (unix hours), for
    actions the audit log lists only so many of (server.organiser.audit.AuditLog.record_capped)."""
    return f"{ROOT}:audit-count:{action}:{hour}"


def captcha_used(digest: str) -> str:
    """String (expiring): a solved captcha or provider token, accepted once already."""
    return f"{ROOT}:captcha:used:{digest}"


def captcha_credit(participant_id: str) -> str:
    """String (expiring): submissions a participant may still make on a solved captcha."""
    return f"{ROOT}:participant:{participant_id}:captcha-credit"


# --- organiser: moderation, freeze, review, raffles, audit
def frozen_board(event_id: str) -> str:
    """Sorted set like :func:`board`: the public standings as of the freeze time."""
    return f"{ROOT}:event:{event_id}:frozen:board"


def frozen_best(event_id: str) -> str:
    """Hash like :func:`best`, for the frozen board."""
    return f"{ROOT}:event:{event_id}:frozen:best"


def frozen_recent(event_id: str) -> str:
    """List like :func:`recent`: the latest drawings as of the freeze time."""
    return f"{ROOT}:event:{event_id}:frozen:recent"


def review_queue(event_id: str) -> str:
    """Sorted set: DONE submission id -> finished (unix seconds), awaiting approval."""
    return f"{ROOT}:event:{event_id}:review"


def claim_codes(event_id: str) -> str:
    """Hash: prize claim code -> participant id (codes are unique within an event)."""
    return f"{ROOT}:event:{event_id}:claims"


def raffles(event_id: str) -> str:
    """List: raffle ids of an event, oldest first."""
    return f"{ROOT}:event:{event_id}:raffles"


def raffle(raffle_id: str) -> str:
    """Hash: see ``server.organiser.raffle.Raffle``."""
    return f"{ROOT}:raffle:{raffle_id}"


def organiser_session(token_hash: str) -> str:
    """String (expiring): JSON of an organiser session, by its token's SHA-256."""
    return f"{ROOT}:organiser:session:{token_hash}"


AUDIT = f"{ROOT}:audit"  # stream of organiser actions, never trimmed (server.organiser.audit)


# --- key formats for the Lua scripts
# A script that derives a key from an id it reads (a follower's, a duplicate's, its
# caller's) takes these as its `key_formats` argument (server/state/lua/keys.lua): each
# function above with '%s' for the id, so key names are written here alone.
LUA_KEY_FORMATS = json.dumps(
    {
        "submission": submission("%s"),
        "followers": followers("%s"),
        "duplicates": duplicates("%s"),
        "submission_channel": submission_channel("%s"),
        "participant": participant("%s"),
        "participant_submissions": participant_submissions("%s"),
        "event": event("%s"),
        "review_queue": review_queue("%s"),
    }
)

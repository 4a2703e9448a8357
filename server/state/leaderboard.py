"""The leaderboard's rules, as Lua that :mod:`server.state.store` runs inside its scripts.

A board is a sorted set of submission ids scored by the negated score, plus a hash
participant id -> the submission on the board, so equal scores order by time (ids are
UUIDv7). Each event has a live board, and while its leaderboard is frozen a second,
frozen board that the public reads.

Who is on a board:

* only drawings of participants who are neither staff nor banned, and that are neither
  hidden nor waiting for an organiser's approval (hold-for-review events), nor copies (a
  prompt ranks for the first participant who sent it; anyone else who sends it sees the
  same picture and score, labelled as a copy);
* one per participant: the highest score, and of equal scores the earliest drawing.

A picture is hidden as a whole: hiding any submission hides its canonical drawing and
every duplicate of it (resends and copies, now and later), and its picture is no longer
served.

A new result is *offered* (it replaces the participant's entry only when strictly
higher). A moderation change *re-places* the participant: the best is recomputed from
what remains, on the live board and on the frozen one. The frozen board holds every
participant's best among drawings finished by the freeze time; it is built once that
time has come, by whichever reader gets there first.

Everything here runs inside one script per state change, so a moderation action and a
result committed at the same moment cannot interleave.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from server.state import keys


def _lua_key(key_of: Callable[[str], str], var: str) -> str:
    """A Lua expression for ``key_of(var)``: key formats stay in :mod:`server.state.keys`."""
    return "'" + key_of(f"' .. {var} .. '") + "'"


KEY_FUNCTIONS: Final = f"""
local function submission_key(id) return {_lua_key(keys.submission, "id")} end
local function followers_key(id) return {_lua_key(keys.followers, "id")} end
local function participant_key(id) return {_lua_key(keys.participant, "id")} end
local function submissions_of(id) return {_lua_key(keys.participant_submissions, "id")} end
local function submission_channel(id) return {_lua_key(keys.submission_channel, "id")} end
local function review_queue(event) return {_lua_key(keys.review_queue, "event")} end
local function duplicates_key(id) return {_lua_key(keys.duplicates, "id")} end
local HIDDEN_IMAGES = '{keys.HIDDEN_IMAGES}'
"""

# HMGET answers false for a missing field, and false ~= '1'.
RULES: Final = (
    KEY_FUNCTIONS
    + """
local function ranked(pid)
  local p = redis.call('HMGET', participant_key(pid), 'staff', 'banned')
  return p[1] ~= '1' and p[2] ~= '1'
end

-- May rank: not hidden, not waiting for approval, not a copy of someone else's prompt.
local function rankable(hidden, review, copy)
  return hidden ~= '1' and review ~= 'PENDING' and copy ~= '1'
end

local function shown(sid)
  local s = redis.call('HMGET', submission_key(sid), 'hidden', 'review', 'copy')
  return rankable(s[1], s[2], s[3])
end

-- A finished drawing of an event held for review waits in its queue until approved
-- (a copy never ranks, so there is nothing to approve).
local function queue_for_review(key, id, now)
  local s = redis.call('HMGET', key, 'review', 'event_id', 'copy')
  if s[1] == 'PENDING' and s[3] ~= '1' then redis.call('ZADD', review_queue(s[2]), now, id) end
end

-- A new result: it replaces the participant's entry only when strictly higher, so on
-- equal scores the earlier submission keeps its place.
local function offer(board, best, pid, sid, score)
  if not (ranked(pid) and shown(sid)) then return 0 end
  local current = redis.call('HGET', best, pid)
  if current then
    local held = redis.call('ZSCORE', board, current)
    if held and -tonumber(held) >= tonumber(score) then return 0 end
    redis.call('ZREM', board, current)
  end
  redis.call('ZADD', board, -tonumber(score), sid)
  redis.call('HSET', best, pid, sid)
  return 1
end

-- The participant's best drawing that may be shown, finished by `cutoff` (nil: ever).
local function best_of(pid, cutoff)
  if not ranked(pid) then return nil end
  local best_sid, best_score = nil, nil
  for _, id in ipairs(redis.call('LRANGE', submissions_of(pid), 0, -1)) do
    local s = redis.call('HMGET', submission_key(id), 'status', 'score', 'hidden', 'review',
                         'finished_at', 'copy')
    if s[1] == 'DONE' and rankable(s[3], s[4], s[6])
        and (cutoff == nil or (tonumber(s[5]) or math.huge) <= cutoff) then
      local score = tonumber(s[2])
      if best_score == nil or score > best_score or (score == best_score and id < best_sid) then
        best_sid, best_score = id, score
      end
    end
  end
  return best_sid, best_score
end

local function place(board, best, pid, cutoff)
  local held = redis.call('HGET', best, pid)
  if held then redis.call('ZREM', board, held) end
  local sid, score = best_of(pid, cutoff)
  if sid then
    redis.call('ZADD', board, -score, sid)
    redis.call('HSET', best, pid, sid)
  else
    redis.call('HDEL', best, pid)
  end
end

-- After a moderation change: the live board, and the frozen one once it is built.
local function replace(event, board, best, fboard, fbest, pid)
  place(board, best, pid, nil)
  local f = redis.call('HMGET', event, 'frozen_at', 'frozen_built')
  if f[1] and f[2] == '1' then place(fboard, fbest, pid, tonumber(f[1])) end
end

-- Only a participant's latest submission can be waiting (one in flight at a time). Its
-- job leaves the stream unless others wait for the same drawing: they still get it, and
-- the banned participant's copy is never ranked. Returns the cancelled id, or ''.
local function cancel_waiting(pid, now, jobs, queue)
  local id = redis.call('LINDEX', submissions_of(pid), 0)
  if not id then return '' end
  local key = submission_key(id)
  local s = redis.call('HMGET', key, 'status', 'canonical', 'entry')
  if s[1] ~= 'QUEUED' and s[1] ~= 'GENERATING' then return '' end
  if s[2] and s[2] ~= id then
    redis.call('SREM', followers_key(s[2]), id)
  elseif s[1] == 'QUEUED' and redis.call('SCARD', followers_key(id)) == 0 then
    if s[3] then redis.call('XDEL', jobs, s[3]) end
    -- Counted as started, so that queue positions behind it move up.
    redis.call('HINCRBY', queue, 'started', 1)
  else
    return ''
  end
  redis.call('HSET', key, 'status', 'FAILED', 'error', 'cancelled by an organiser',
             'finished_at', now)
  redis.call('PUBLISH', submission_channel(id), 'FAILED')
  return id
end
"""
)

# KEYS: submission, event, board, best, frozen board, frozen best, review queue, channel
# ARGV: submission id, field ('hidden' or 'review'), value ('' removes the field)
# Returns {previous value or ''}, or nil when there is no such submission. 'hidden' is
# set on the whole picture: the canonical drawing and all its duplicates, whose
# participants are all re-placed; the picture's key joins or leaves HIDDEN_IMAGES.
MODERATE_SUBMISSION: Final = (
    RULES
    + """
local sid, field, value = ARGV[1], ARGV[2], ARGV[3]
local pid = redis.call('HGET', KEYS[1], 'participant_id')
if not pid then return nil end
local before = redis.call('HGET', KEYS[1], field) or ''
local ids = {sid}
if field == 'hidden' then
  local canonical = redis.call('HGET', KEYS[1], 'canonical') or sid
  ids = redis.call('SMEMBERS', duplicates_key(canonical))
  table.insert(ids, 1, canonical)
  local image = redis.call('HGET', submission_key(canonical), 'image_key')
  if image and value == '' then
    redis.call('SREM', HIDDEN_IMAGES, image)
  elseif image then
    redis.call('SADD', HIDDEN_IMAGES, image)
  end
end
local pids, seen = {}, {}
for _, id in ipairs(ids) do
  local key = submission_key(id)
  if value == '' then
    redis.call('HDEL', key, field)
  else
    redis.call('HSET', key, field, value)
  end
  local owner = redis.call('HGET', key, 'participant_id')
  if owner and not seen[owner] then
    seen[owner] = true
    pids[#pids + 1] = owner
  end
end
if field == 'review' and value ~= 'PENDING' then redis.call('ZREM', KEYS[7], sid) end
for _, owner in ipairs(pids) do replace(KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], owner) end
redis.call('PUBLISH', KEYS[8], 'moderated')
return {before}
"""
)

# KEYS: participant, event, board, best, frozen board, frozen best, channel, jobs, queue
# ARGV: participant id, field ('staff' or 'banned'), value ('' removes), now
# Returns {previous value or '', id of a cancelled submission or ''}, or nil when there
# is no such participant. Banning cancels the participant's waiting submission.
MODERATE_PARTICIPANT: Final = (
    RULES
    + """
local pid, field, value, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if redis.call('EXISTS', KEYS[1]) == 0 then return nil end
local before = redis.call('HGET', KEYS[1], field) or ''
if value == '' then
  redis.call('HDEL', KEYS[1], field)
else
  redis.call('HSET', KEYS[1], field, value)
end
local cancelled = ''
if field == 'banned' and value == '1' then
  cancelled = cancel_waiting(pid, now, KEYS[8], KEYS[9])
end
replace(KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], pid)
redis.call('PUBLISH', KEYS[7], 'moderated')
return {before, cancelled}
"""
)

# KEYS: event, nicknames, frozen board, frozen best, recent, frozen recent.  ARGV: now
# Builds the frozen board once its time has come; 1 if built now, 0 if not due or built.
BUILD_FROZEN: Final = (
    RULES
    + """
local f = redis.call('HMGET', KEYS[1], 'frozen_at', 'frozen_built')
local at = tonumber(f[1])
if not at or at > tonumber(ARGV[1]) or f[2] == '1' then return 0 end
redis.call('DEL', KEYS[3], KEYS[4], KEYS[6])
for _, pid in ipairs(redis.call('HVALS', KEYS[2])) do place(KEYS[3], KEYS[4], pid, at) end
for _, id in ipairs(redis.call('LRANGE', KEYS[5], 0, -1)) do
  local finished = tonumber(redis.call('HGET', submission_key(id), 'finished_at'))
  if finished and finished <= at then redis.call('RPUSH', KEYS[6], id) end
end
redis.call('HSET', KEYS[1], 'frozen_built', '1')
return 1
"""
)

# KEYS: event, live key, frozen key.  ARGV: now, 'zset' or 'list', stop index, 'public'
# or 'live'. The public reads the frozen key from the freeze time on. Returns {'OK',
# items}, or {'BUILD'} when the frozen board is due but not built yet.
READ: Final = """
local f = redis.call('HMGET', KEYS[1], 'frozen_at', 'frozen_built')
local at = tonumber(f[1])
local key = KEYS[2]
if ARGV[4] == 'public' and at and at <= tonumber(ARGV[1]) then
  if f[2] ~= '1' then return {'BUILD'} end
  key = KEYS[3]
end
if ARGV[2] == 'zset' then
  return {'OK', redis.call('ZRANGE', key, 0, tonumber(ARGV[3]), 'WITHSCORES')}
end
return {'OK', redis.call('LRANGE', key, 0, tonumber(ARGV[3]))}
"""

# KEYS: event, best, board, frozen best, frozen board.  ARGV: now, participant id,
# 'public' or 'live'. Returns {'OK'} (not on the board), {'OK', score, 0-based rank},
# or {'BUILD'} as READ does.
STANDING: Final = """
local f = redis.call('HMGET', KEYS[1], 'frozen_at', 'frozen_built')
local at = tonumber(f[1])
local best, board = KEYS[2], KEYS[3]
if ARGV[3] == 'public' and at and at <= tonumber(ARGV[1]) then
  if f[2] ~= '1' then return {'BUILD'} end
  best, board = KEYS[4], KEYS[5]
end
local sid = redis.call('HGET', best, ARGV[2])
if not sid then return {'OK'} end
local score = redis.call('ZSCORE', board, sid)
if not score then return {'OK'} end
return {'OK', score, redis.call('ZRANK', board, sid)}
"""

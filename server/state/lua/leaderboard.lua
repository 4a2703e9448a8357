-- Library: the leaderboard's rules, run inside each script that changes a board.
-- Needs keys.lua before it.
--
-- A board is a sorted set of submission ids scored by the negated score, plus a hash
-- participant id -> the submission on the board, so equal scores order by time (ids are
-- UUIDv7). Each event has a live board, and while its leaderboard is frozen a second,
-- frozen board that the public reads.
--
-- Who is on a board:
-- * only drawings of participants who are neither staff nor banned, and that are neither
--   hidden nor waiting for an organiser's approval (hold-for-review events), nor copies (a
--   prompt ranks for the first participant who sent it; anyone else who sends it sees the
--   same picture and score, labelled as a copy);
-- * one per participant: the highest score, and of equal scores the earliest drawing.
--
-- A picture is hidden as a whole: hiding any submission hides its canonical drawing and
-- every duplicate of it (resends and copies, now and later), and its picture is no longer
-- served.
--
-- A new result is *offered* (it replaces the participant's entry only when strictly
-- higher). A moderation change *re-places* the participant: the best is recomputed from
-- what remains, on the live board and on the frozen one. The frozen board holds every
-- participant's best among drawings finished by the freeze time; it is built once that
-- time has come, by whichever reader gets there first.
--
-- Everything here runs inside one script per state change, so a moderation action and a
-- result committed at the same moment cannot interleave.

-- HMGET answers false for a missing field, and false ~= '1'.
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

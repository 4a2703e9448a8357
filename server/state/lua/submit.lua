-- Record a submission atomically with its checks, its dedup decision and, if new, its
-- job. With keys.lua, phase.lua, leaderboard.lua and gcra.lua (the rate limits'
-- take_rates) before it.
--
-- Keys that depend on the caller hold slots (caller_slot for the participant id,
-- event_slot for the event id), filled in once the caller is known: the script reads the
-- caller itself, in the same round trip.
local prompt_canonical = KEYS[1]  -- the prompt's canonical submission (event slot)
local submission = KEYS[2]  -- the new submission's hash
local caller_submissions = KEYS[3]  -- (caller slot)
local jobs = KEYS[4]
local board = KEYS[5]  -- (event slot)
local best = KEYS[6]  -- (event slot)
local counts = KEYS[7]  -- (event slot)
local event_channel = KEYS[8]  -- (event slot)
local queue = KEYS[9]
local worker_heartbeats = KEYS[10]
local caller_hash = KEYS[11]  -- the participant (caller slot)
local session = KEYS[12]  -- '' when participant_id is given
local event_hash = KEYS[13]  -- (event slot)
local ticket = KEYS[14]  -- the captcha ticket's key, '' for none
local rate_keys = {unpack(KEYS, 15)}  -- the rate limits' keys (caller and event slots)
local key_formats = ARGV[1]  -- server.state.keys.LUA_KEY_FORMATS
local sid = ARGV[2]
local pid = ARGV[3]  -- the caller's participant id, '' to read the session's
local now = ARGV[4]
local max_depth = tonumber(ARGV[5])  -- the most jobs waiting
local max_wait = tonumber(ARGV[6])  -- seconds the waiting jobs may take, '' for no bound
local heartbeat_horizon = ARGV[7]  -- workers with a heartbeat since then are live
local fields = cjson.decode(ARGV[8])  -- the hash's field/value items, as a JSON array
local job = cjson.decode(ARGV[9])  -- the job's field/value items (event, target, seed slots)
local ticket_ttl = tonumber(ARGV[10])  -- ms to keep the ticket, '' for no ticket
local session_idle = ARGV[11]  -- the session's idle expiry, seconds
local caller_slot = ARGV[12]
local event_slot = ARGV[13]
local target_slot = ARGV[14]
local seed_slot = ARGV[15]
local rate_params = {unpack(ARGV, 16)}  -- server.abuse.limits.rate_params
--
-- In this order, as if each were checked by itself just before the next:
-- UNAUTHENTICATED when the session (or participant) is unknown, NO_EVENT when its event
-- is gone, BANNED when an organiser banned the participant, CLOSED or SCHEDULED (detail:
-- opens_at) when the event takes no entries now (phase.lua); REPLAYED when the captcha
-- ticket was claimed before (else it is claimed now); RATE_LIMITED (detail: seconds to
-- wait) when a rate limit says no (nothing more written); otherwise the request is
-- counted against its limits, and IN_FLIGHT when the participant's latest submission is
-- still waiting, or BUSY when a new job would join a queue deeper than the bound: the
-- given depth, and the jobs that fit in the max wait at the measured speed (job_seconds)
-- with the live workers. Nothing is written before any of these refusals but the ones
-- after the rate limits. A prompt that is already drawn or being drawn is never refused:
-- it costs no GPU time.
-- Reply: {outcome, detail, enqueued, started, job_seconds, live workers, field, value,
-- ...}: the queue as the script left it (for the ETA, and BUSY's retry time), then every
-- field the script set on the new submission's hash beyond the given ones (the caller's
-- among them), so that nobody has to read it back.

-- The drawing's seed: the first 13 hex digits of SHA-1(the event's seed secret ':' the
-- prompt key), 52 bits, exact as a Lua number. The secret never leaves Redis, so nobody
-- can re-draw and score prompts at home.
local function drawing_seed(seed_secret, prompt_key)
  return string.format('%.0f', tonumber(
    string.sub(redis.sha1hex(seed_secret .. ':' .. prompt_key), 1, 13), 16))
end

local function fill(key, slot, value)
  local at = string.find(key, slot, 1, true)
  if not at then return key end
  return string.sub(key, 1, at - 1) .. value .. string.sub(key, at + #slot)
end

use_key_formats(key_formats)
local queue_state = redis.call('HMGET', queue, 'enqueued', 'started', 'job_seconds')
local enqueued, started = tonumber(queue_state[1]) or 0, tonumber(queue_state[2]) or 0
local job_seconds = tonumber(queue_state[3]) or 0
local workers = redis.call('ZCOUNT', worker_heartbeats, heartbeat_horizon, '+inf')
local function reply(outcome, detail, ...)
  return {outcome, detail, enqueued, started, queue_state[3] or '0', workers, ...}
end

-- The caller.
if pid == '' then
  pid = redis.call('GET', session)
  if pid then redis.call('EXPIRE', session, session_idle) end  -- an idle session expires
end
if not pid then return reply('UNAUTHENTICATED', '') end
local who = redis.call('HMGET', fill(caller_hash, caller_slot, pid),
                       'event_id', 'nickname', 'banned')
if not who[1] then return reply('UNAUTHENTICATED', '') end
local eid = who[1]
local event = redis.call('HMGET', fill(event_hash, event_slot, eid),
                         'target_key', 'status', 'opens_at', 'closes_at', 'hold', 'seed_secret')
if not event[1] then return reply('NO_EVENT', eid) end
if who[3] == '1' then return reply('BANNED', pid) end
local phase = event_phase(event[2], event[3], event[4], now)
if phase == 'CLOSED' then return reply('CLOSED', '') end
if phase == 'SCHEDULED' then return reply('SCHEDULED', event[3]) end

-- The caller's keys and fields.
local function for_caller(key) return fill(fill(key, caller_slot, pid), event_slot, eid) end
prompt_canonical, caller_submissions = for_caller(prompt_canonical), for_caller(caller_submissions)
board, best, counts = for_caller(board), for_caller(best), for_caller(counts)
event_channel = for_caller(event_channel)
for i, key in ipairs(rate_keys) do rate_keys[i] = for_caller(key) end
local prompt_key = ''
for i = 1, #fields, 2 do
  if fields[i] == 'prompt_key' then prompt_key = fields[i + 1] end
end
local seed = drawing_seed(event[6] or '', prompt_key)
for i, value in ipairs(job) do
  if value == event_slot then job[i] = eid elseif value == target_slot then job[i] = event[1]
  elseif value == seed_slot then job[i] = seed end
end
local mine = {'event_id', eid, 'participant_id', pid, 'nickname', who[2],
              'target_key', event[1], 'seed', seed}
if event[5] == '1' then
  mine[#mine + 1], mine[#mine + 2] = 'review', 'PENDING'
end

-- The captcha, the rate limits, one submission in flight, dedup and the queue bound.
if ticket_ttl and not redis.call('SET', ticket, '1', 'NX', 'PX', ticket_ttl) then
  return reply('REPLAYED', '')
end
local wait = take_rates(rate_keys, nil, rate_params)
if wait > 0 then return reply('RATE_LIMITED', string.format('%.17g', wait)) end
local last = redis.call('LINDEX', caller_submissions, 0)
if last then
  local s = redis.call('HGET', submission_key(last), 'status')
  if s == 'QUEUED' or s == 'GENERATING' then return reply('IN_FLIGHT', last) end
end
local canonical = redis.call('GET', prompt_canonical)
local state
if canonical then
  state = redis.call('HMGET', submission_key(canonical), 'status', 'score', 'image_key',
                     'model_version', 'participant_id', 'hidden')
  if not state[1] or state[1] == 'FAILED' then canonical = nil end
end
local depth = enqueued - started
if max_wait and job_seconds > 0 then
  local fit = math.max(math.floor(max_wait * math.max(workers, 1) / job_seconds), 1)
  max_depth = math.min(max_depth, fit)
end
if not canonical and depth >= max_depth then return reply('BUSY', tostring(depth)) end

-- Recorded: a new job, a duplicate of a finished drawing, or a follower of a waiting one.
redis.call('HSET', submission, unpack(fields))
redis.call('HSET', submission, unpack(mine))
redis.call('LPUSH', caller_submissions, sid)
redis.call('HINCRBY', counts, 'submissions', 1)
if not canonical then
  redis.call('SET', prompt_canonical, sid)
  local seq = redis.call('HINCRBY', queue, 'enqueued', 1)
  enqueued = seq
  -- The entry id lets an organiser's ban take a job back out of the stream.
  local entry = redis.call('XADD', jobs, '*', unpack(job))
  redis.call('HSET', submission, 'status', 'QUEUED', 'canonical', sid, 'deduplicated', '0',
             'seq', seq, 'entry', entry)
  redis.call('PUBLISH', event_channel, 'submitted')
  return reply('QUEUED', sid, 'status', 'QUEUED', 'canonical', sid, 'deduplicated', '0',
               'seq', tostring(seq), unpack(mine))
end
-- A duplicate shares the first drawing: its picture and score, and its hidden state.
-- Sent by anyone but the prompt's first sender, it is a copy, which never ranks.
local shared = {'canonical', canonical, 'deduplicated', '1'}
if state[5] ~= pid then shared[#shared + 1], shared[#shared + 2] = 'copy', '1' end
if state[6] == '1' then shared[#shared + 1], shared[#shared + 2] = 'hidden', '1' end
redis.call('HSET', submission, unpack(shared))
for _, item in ipairs(shared) do mine[#mine + 1] = item end
redis.call('SADD', duplicates_key(canonical), sid)
if state[1] == 'DONE' then
  redis.call('HSET', submission, 'status', 'DONE', 'score', state[2], 'image_key', state[3],
             'model_version', state[4], 'finished_at', now)
  redis.call('HINCRBY', counts, 'deduplicated', 1)
  queue_for_review(submission, sid, now)
  offer(board, best, pid, sid, state[2])
  redis.call('PUBLISH', event_channel, 'scored')
  return reply('DONE', canonical, 'status', 'DONE', 'score', state[2], 'image_key', state[3],
               'model_version', state[4], 'finished_at', now, unpack(mine))
end
local cseq = redis.call('HGET', submission_key(canonical), 'seq') or '0'
redis.call('HSET', submission, 'status', state[1], 'seq', cseq)
redis.call('SADD', followers_key(canonical), sid)
redis.call('PUBLISH', event_channel, 'submitted')
return reply('FOLLOW', canonical, 'status', state[1], 'seq', cseq, unpack(mine))

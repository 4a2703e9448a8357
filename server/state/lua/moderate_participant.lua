-- Set a participant's 'staff' or 'banned' flag and re-place them on the live board and
-- the frozen one; a ban also cancels their waiting submission. With keys.lua and
-- leaderboard.lua before it.
local participant = KEYS[1]
local event = KEYS[2]
local board = KEYS[3]
local best = KEYS[4]
local frozen_board = KEYS[5]
local frozen_best = KEYS[6]
local event_channel = KEYS[7]
local jobs = KEYS[8]
local queue = KEYS[9]
local key_formats = ARGV[1]  -- server.state.keys.LUA_KEY_FORMATS
local pid = ARGV[2]
local field = ARGV[3]  -- 'staff' or 'banned'
local value = ARGV[4]  -- '' removes the flag
local now = ARGV[5]
-- Returns {previous value or '', id of a cancelled submission or ''}, or nil when there
-- is no such participant.

use_key_formats(key_formats)
if redis.call('EXISTS', participant) == 0 then return nil end
local before = redis.call('HGET', participant, field) or ''
if value == '' then
  redis.call('HDEL', participant, field)
else
  redis.call('HSET', participant, field, value)
end
local cancelled = ''
if field == 'banned' and value == '1' then
  cancelled = cancel_waiting(pid, now, jobs, queue)
end
replace(event, board, best, frozen_board, frozen_best, pid)
redis.call('PUBLISH', event_channel, 'moderated')
return {before, cancelled}

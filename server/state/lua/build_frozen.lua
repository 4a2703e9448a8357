-- Build the frozen board once its time has come: every participant's best among the
-- drawings finished by the freeze time, and the latest drawings as of then. With keys.lua,
-- leaderboard.lua and frozen.lua before it.
local event = KEYS[1]
local nicknames = KEYS[2]  -- the event's participants
local frozen_board = KEYS[3]
local frozen_best = KEYS[4]
local recent = KEYS[5]
local frozen_recent = KEYS[6]
local key_formats = ARGV[1]  -- server.state.keys.LUA_KEY_FORMATS
local now = ARGV[2]
-- Returns 1 if built now, 0 if not due or built already.

use_key_formats(key_formats)
local f = redis.call('HMGET', event, 'frozen_at', 'frozen_built')
if not board_frozen(f[1], now) or f[2] == '1' then return 0 end
local at = tonumber(f[1])
redis.call('DEL', frozen_board, frozen_best, frozen_recent)
for _, pid in ipairs(redis.call('HVALS', nicknames)) do
  place(frozen_board, frozen_best, pid, at)
end
for _, id in ipairs(redis.call('LRANGE', recent, 0, -1)) do
  local finished = tonumber(redis.call('HGET', submission_key(id), 'finished_at'))
  if finished and finished <= at then redis.call('RPUSH', frozen_recent, id) end
end
redis.call('HSET', event, 'frozen_built', '1')
return 1

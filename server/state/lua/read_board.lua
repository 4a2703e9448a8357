-- Read a board (sorted set) or latest-drawings list: the public one, which is the frozen
-- one from the freeze time on (frozen.lua), or the live one. With frozen.lua before it.
local event = KEYS[1]
local live_key = KEYS[2]
local frozen_key = KEYS[3]
local now = ARGV[1]
local kind = ARGV[2]  -- 'zset' or 'list'
local stop = ARGV[3]  -- the last index read
local audience = ARGV[4]  -- 'public' or 'live'
-- Returns {'OK', items}, or {'BUILD'} when the frozen board is due but not built yet.

local f = redis.call('HMGET', event, 'frozen_at', 'frozen_built')
local key = live_key
if audience == 'public' and board_frozen(f[1], now) then
  if f[2] ~= '1' then return {'BUILD'} end
  key = frozen_key
end
if kind == 'zset' then
  return {'OK', redis.call('ZRANGE', key, 0, tonumber(stop), 'WITHSCORES')}
end
return {'OK', redis.call('LRANGE', key, 0, tonumber(stop))}

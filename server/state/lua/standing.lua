-- A participant's score and place on the public board (frozen from the freeze time on,
-- by frozen.lua) or the live one. With frozen.lua before it.
local event = KEYS[1]
local live_best = KEYS[2]
local live_board = KEYS[3]
local frozen_best = KEYS[4]
local frozen_board = KEYS[5]
local now = ARGV[1]
local pid = ARGV[2]
local audience = ARGV[3]  -- 'public' or 'live'
-- Returns {'OK'} (not on the board), {'OK', score, 0-based rank}, or {'BUILD'} when the
-- frozen board is due but not built yet.

local f = redis.call('HMGET', event, 'frozen_at', 'frozen_built')
local best, board = live_best, live_board
if audience == 'public' and board_frozen(f[1], now) then
  if f[2] ~= '1' then return {'BUILD'} end
  best, board = frozen_best, frozen_board
end
local sid = redis.call('HGET', best, pid)
if not sid then return {'OK'} end
local score = redis.call('ZSCORE', board, sid)
if not score then return {'OK'} end
return {'OK', score, redis.call('ZRANK', board, sid)}

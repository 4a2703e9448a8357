-- Events as stored, each with its phase at `now` by phase.lua and whether its public board
-- is frozen by frozen.lua: the server takes both from here and never decides them itself.
-- With phase.lua and frozen.lua before it.
local event_hashes = {unpack(KEYS, 1)}  -- the events' hashes
local now = ARGV[1]
-- Returns one {hash as a flat list, phase, 1 if frozen else 0} per key; {{}, '', 0} for
-- an event that is gone.

local events = {}
for i, key in ipairs(event_hashes) do
  local fields = redis.call('HGETALL', key)
  local phase, frozen = '', 0
  if #fields > 0 then
    local e = redis.call('HMGET', key, 'status', 'opens_at', 'closes_at', 'frozen_at')
    phase = event_phase(e[1], e[2], e[3], now)
    if board_frozen(e[4], now) then frozen = 1 end
  end
  events[i] = {fields, phase, frozen}
end
return events

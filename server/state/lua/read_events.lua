-- Events as stored, each with its phase at `now` by phase.lua: the server takes an event's
-- phase from here and never decides it itself. With phase.lua before it.
local event_hashes = {unpack(KEYS, 1)}  -- the events' hashes
local now = ARGV[1]
-- Returns one {hash as a flat list, phase} per key; {{}, ''} for an event that is gone.

local events = {}
for i, key in ipairs(event_hashes) do
  local fields = redis.call('HGETALL', key)
  local phase = ''
  if #fields > 0 then
    local e = redis.call('HMGET', key, 'status', 'opens_at', 'closes_at')
    phase = event_phase(e[1], e[2], e[3], now)
  end
  events[i] = {fields, phase}
end
return events

-- An event's counters, and whether the public sees frozen standings now (frozen.lua): a
-- board snapshot is built from these reads alone. With frozen.lua before it.
local counts = KEYS[1]  -- the event's counters
local event = KEYS[2]  -- the event's hash
local now = ARGV[1]
-- Returns {the counters as a flat list, 1 if frozen else 0}.

local frozen = board_frozen(redis.call('HGET', event, 'frozen_at'), now)
return {redis.call('HGETALL', counts), frozen and 1 or 0}

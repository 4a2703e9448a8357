-- The participant of a session and its event (with its phase by phase.lua, and whether its
-- board is frozen by frozen.lua), read together; the session's idle expiry starts again.
-- With keys.lua, phase.lua and frozen.lua before it.
local session = KEYS[1]
local key_formats = ARGV[1]  -- server.state.keys.LUA_KEY_FORMATS
local idle_expiry = ARGV[2]  -- seconds
local now = ARGV[3]
-- Returns {participant hash, its event's hash (empty if gone), the event's phase ('' if
-- gone), 1 if its board is frozen else 0}, hashes as flat lists, or {} for no participant.

use_key_formats(key_formats)
local pid = redis.call('GET', session)
if not pid then return {} end
redis.call('EXPIRE', session, idle_expiry)
local participant = redis.call('HGETALL', participant_key(pid))
if #participant == 0 then return {} end
local event_id = redis.call('HGET', participant_key(pid), 'event_id') or ''
local event = event_key(event_id)
local e = redis.call('HMGET', event, 'status', 'opens_at', 'closes_at', 'frozen_at')
local phase = ''
if redis.call('EXISTS', event) == 1 then phase = event_phase(e[1], e[2], e[3], now) end
return {participant, redis.call('HGETALL', event), phase, board_frozen(e[4], now) and 1 or 0}

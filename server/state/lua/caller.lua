-- The participant of a session and its event, read together; the session's idle expiry
-- starts again. With keys.lua before it.
local session = KEYS[1]
local key_formats = ARGV[1]  -- server.state.keys.LUA_KEY_FORMATS
local idle_expiry = ARGV[2]  -- seconds
-- Returns {participant hash, its event's hash (empty if gone)}, or {} for no participant.

use_key_formats(key_formats)
local pid = redis.call('GET', session)
if not pid then return {} end
redis.call('EXPIRE', session, idle_expiry)
local participant = redis.call('HGETALL', participant_key(pid))
if #participant == 0 then return {} end
local event_id = redis.call('HGET', participant_key(pid), 'event_id') or ''
return {participant, redis.call('HGETALL', event_key(event_id))}

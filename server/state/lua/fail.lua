-- End a submission and its followers as FAILED (a later identical prompt draws again).
-- With keys.lua before it.
local submission = KEYS[1]
local followers = KEYS[2]
local key_formats = ARGV[1]  -- server.state.keys.LUA_KEY_FORMATS
local sid = ARGV[2]
local now = ARGV[3]
local reason = ARGV[4]
-- Returns 1, or 0 when it had finished already.

use_key_formats(key_formats)
local status = redis.call('HGET', submission, 'status')
if not status or status == 'DONE' or status == 'FAILED' then return 0 end
local ids = redis.call('SMEMBERS', followers)
table.insert(ids, 1, sid)
for _, id in ipairs(ids) do
  local key = submission_key(id)
  local s = redis.call('HGET', key, 'status')
  if s == 'QUEUED' or s == 'GENERATING' then
    redis.call('HSET', key, 'status', 'FAILED', 'error', reason, 'finished_at', now)
    redis.call('PUBLISH', submission_channel(id), 'FAILED')
  end
end
redis.call('DEL', followers)
return 1

-- A worker took a job: QUEUED -> GENERATING, for the submission and its followers. With
-- keys.lua before it.
local submission = KEYS[1]
local followers = KEYS[2]
local queue = KEYS[3]
local key_formats = ARGV[1]  -- server.state.keys.LUA_KEY_FORMATS
local sid = ARGV[2]
local now = ARGV[3]
-- Returns 1, or 0 when the submission was not QUEUED.

use_key_formats(key_formats)
if redis.call('HGET', submission, 'status') ~= 'QUEUED' then return 0 end
redis.call('HINCRBY', queue, 'started', 1)
redis.call('HSET', submission, 'status', 'GENERATING', 'started_at', now)
redis.call('PUBLISH', submission_channel(sid), 'GENERATING')
for _, f in ipairs(redis.call('SMEMBERS', followers)) do
  if redis.call('HGET', submission_key(f), 'status') == 'QUEUED' then
    redis.call('HSET', submission_key(f), 'status', 'GENERATING')
    redis.call('PUBLISH', submission_channel(f), 'GENERATING')
  end
end
return 1

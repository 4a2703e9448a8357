-- Record a drawing's result for the submission and its followers, offer each to the
-- leaderboard, count it and list it among the latest drawings. Idempotent. With keys.lua
-- and leaderboard.lua before it.
local submission = KEYS[1]
local followers = KEYS[2]
local board = KEYS[3]
local best = KEYS[4]
local counts = KEYS[5]
local recent = KEYS[6]
local event_channel = KEYS[7]
local hidden_images = KEYS[8]
local key_formats = ARGV[1]  -- server.state.keys.LUA_KEY_FORMATS
local sid = ARGV[2]
local now = ARGV[3]
local score = ARGV[4]
local image = ARGV[5]  -- the picture's key
local version = ARGV[6]  -- the models' version
local recent_kept = ARGV[7]  -- the length the latest drawings' list is trimmed to
-- Returns 1, or 0 (and changes nothing) when it had finished already.

use_key_formats(key_formats)
local status = redis.call('HGET', submission, 'status')
if not status or status == 'DONE' or status == 'FAILED' then return 0 end
-- Hidden before it was drawn: the picture is hidden, and so are the copies waiting for it.
local hidden = redis.call('HGET', submission, 'hidden') == '1'
if hidden then redis.call('SADD', hidden_images, image) end
local function finish(key, id)
  redis.call('HSET', key, 'status', 'DONE', 'score', score, 'image_key', image,
             'model_version', version, 'finished_at', now)
  if hidden then redis.call('HSET', key, 'hidden', '1') end
  queue_for_review(key, id, now)
  offer(board, best, redis.call('HGET', key, 'participant_id'), id, score)
  redis.call('PUBLISH', submission_channel(id), 'DONE')
end
finish(submission, sid)
redis.call('HINCRBY', counts, 'drawings', 1)
redis.call('LPUSH', recent, sid)
redis.call('LTRIM', recent, 0, tonumber(recent_kept) - 1)
for _, f in ipairs(redis.call('SMEMBERS', followers)) do
  local fs = redis.call('HGET', submission_key(f), 'status')
  if fs == 'QUEUED' or fs == 'GENERATING' then
    finish(submission_key(f), f)
    redis.call('HINCRBY', counts, 'deduplicated', 1)
  end
end
redis.call('DEL', followers)
redis.call('PUBLISH', event_channel, 'scored')
return 1

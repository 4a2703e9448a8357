-- Set a submission's moderation field and re-place every participant concerned on the
-- live board and the frozen one. With keys.lua and leaderboard.lua before it.
local submission = KEYS[1]
local event = KEYS[2]
local board = KEYS[3]
local best = KEYS[4]
local frozen_board = KEYS[5]
local frozen_best = KEYS[6]
local review = KEYS[7]  -- the event's review queue
local event_channel = KEYS[8]
local hidden_images = KEYS[9]
local key_formats = ARGV[1]  -- server.state.keys.LUA_KEY_FORMATS
local sid = ARGV[2]
local field = ARGV[3]  -- 'hidden' or 'review'
local value = ARGV[4]  -- '' removes the field
-- Returns {previous value or ''}, or nil when there is no such submission. 'hidden' is
-- set on the whole picture: the canonical drawing and all its duplicates, whose
-- participants are all re-placed; the picture's key joins or leaves hidden_images.

use_key_formats(key_formats)
local pid = redis.call('HGET', submission, 'participant_id')
if not pid then return nil end
local before = redis.call('HGET', submission, field) or ''
local ids = {sid}
if field == 'hidden' then
  local canonical = redis.call('HGET', submission, 'canonical') or sid
  ids = redis.call('SMEMBERS', duplicates_key(canonical))
  table.insert(ids, 1, canonical)
  local image = redis.call('HGET', submission_key(canonical), 'image_key')
  if image and value == '' then
    redis.call('SREM', hidden_images, image)
  elseif image then
    redis.call('SADD', hidden_images, image)
  end
end
local pids, seen = {}, {}
for _, id in ipairs(ids) do
  local key = submission_key(id)
  if value == '' then
    redis.call('HDEL', key, field)
  else
    redis.call('HSET', key, field, value)
  end
  local owner = redis.call('HGET', key, 'participant_id')
  if owner and not seen[owner] then
    seen[owner] = true
    pids[#pids + 1] = owner
  end
end
if field == 'review' and value ~= 'PENDING' then redis.call('ZREM', review, sid) end
for _, owner in ipairs(pids) do
  replace(event, board, best, frozen_board, frozen_best, owner)
end
redis.call('PUBLISH', event_channel, 'moderated')
return {before}

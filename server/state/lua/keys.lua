-- Library: the names of keys a script derives from ids it reads (a follower's, a
-- duplicate's, its caller's). The formats come from server.state.keys.LUA_KEY_FORMATS,
-- which each script takes as its `key_formats` argument and passes to use_key_formats
-- before deriving any key; '%s' in a format stands for the id. No key is named here.
local key_formats = {}
local function use_key_formats(json) key_formats = cjson.decode(json) end
local function key_of(kind, id) return string.format(key_formats[kind], id) end
local function submission_key(id) return key_of('submission', id) end
local function followers_key(id) return key_of('followers', id) end
local function duplicates_key(id) return key_of('duplicates', id) end
local function submission_channel(id) return key_of('submission_channel', id) end
local function participant_key(id) return key_of('participant', id) end
local function submissions_of(id) return key_of('participant_submissions', id) end
local function event_key(id) return key_of('event', id) end
local function review_queue(event_id) return key_of('review_queue', event_id) end

-- Take one request from every rate limit of a request, or from none
-- (server.abuse.limits.check_rates). With gcra.lua before it.
local rate_keys = {unpack(KEYS, 1)}  -- the limited clients
local now = tonumber(ARGV[1])  -- seconds, or '' (nil) for the Redis clock
local params = {unpack(ARGV, 2)}  -- per key its interval and burst
-- Returns 0 (allowed, and counted) or the seconds to wait, as a "%.17g" string.

return string.format('%.17g', take_rates(rate_keys, now, params))

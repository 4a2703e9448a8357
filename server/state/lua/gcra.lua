-- Library: rate limits by GCRA (the generic cell rate algorithm). Each limited client has
-- one key holding its theoretical arrival time; a request is allowed while that time is
-- less than `burst` intervals ahead of now.
--
-- take_rates(rate_keys, now, params) takes one request from every limit, or from none,
-- and answers 0 (allowed) or the seconds to wait. `now` is seconds, or nil for the Redis
-- clock (one clock for every server process); `params` the limits' interval (1 / rate)
-- and burst, in key order (server.abuse.limits.rate_params). The standalone check
-- (rate.lua) and the submission script (submit.lua) use it, so a submission's limits are
-- taken atomically with it. Numbers travel as "%.17g" strings: Lua's tostring() keeps
-- only 14 digits, and a reply number would be truncated to an integer.
local function take_rates(rate_keys, now, params)
  if now == nil then
    local t = redis.call('TIME')
    now = tonumber(t[1]) + tonumber(t[2]) / 1000000
  end
  local wait = 0
  local tats = {}
  for i, key in ipairs(rate_keys) do
    local interval = tonumber(params[2 * i - 1])
    local burst = tonumber(params[2 * i])
    local tat = tonumber(redis.call('GET', key))
    if tat == nil or tat < now then
      tat = now
    end
    local new_tat = tat + interval
    local allow_at = new_tat - burst * interval
    if now < allow_at and allow_at - now > wait then
      wait = allow_at - now
    end
    tats[i] = new_tat
  end
  if wait > 0 then
    return wait
  end
  for i, key in ipairs(rate_keys) do
    -- A second's slack: a key that outlives its time behaves exactly like a missing one.
    local ttl_ms = math.ceil((tats[i] - now) * 1000) + 1000
    redis.call('SET', key, string.format('%.17g', tats[i]), 'PX', ttl_ms)
  end
  return 0
end

-- Use up one submission of a recent captcha pass (server.abuse.limits.captcha_needed).
local credit_key = KEYS[1]  -- the participant's captcha credit
-- Returns 1 when the submission needs a captcha (no credit left), else 0. A credit of -1
-- covers every submission until the key expires.

-- DECR keeps the key's expiry, so the credit still runs out on time.
local credit = tonumber(redis.call('GET', credit_key))
if credit == nil or credit == 0 then
  return 1
end
if credit > 0 then
  redis.call('DECR', credit_key)
end
return 0

-- Library: whether an event takes entries. The only place this rule is written: the
-- submission script applies it, and every event the server reads comes with the phase
-- it gives (server.state.events.EventRecord.phase).
--
-- 'CLOSED' when an organiser closed the event or its closing time has come, else
-- 'SCHEDULED' before its opening time, else 'OPEN'. Times are unix seconds (strings as
-- stored in the event's hash, or false when not set).
local function event_phase(status, opens_at, closes_at, now)
  local t = tonumber(now)
  if status == 'CLOSED' or (closes_at and t >= tonumber(closes_at)) then return 'CLOSED' end
  if opens_at and t < tonumber(opens_at) then return 'SCHEDULED' end
  return 'OPEN'
end

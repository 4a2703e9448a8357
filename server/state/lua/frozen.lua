-- Library: whether the public sees frozen standings. The only place this rule is written:
-- the board reads (read_board.lua, standing.lua) and the freeze (build_frozen.lua) apply
-- it, and every event the server reads comes with what it gives
-- (server.state.events.EventRecord.frozen), as do an event's counters (read_counts.lua).
--
-- True from the freeze time on: `frozen_at` is unix seconds (a string as stored in the
-- event's hash, or false when not frozen), `now` unix seconds.
local function board_frozen(frozen_at, now)
  local at = tonumber(frozen_at)
  return at ~= nil and at <= tonumber(now)
end

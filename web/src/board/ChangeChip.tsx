import type { Change } from "./changes";

/** ▲2, ▼1 or NEW next to an entry for a few seconds after it moved. */
export function ChangeChip({ change }: { change: Change | undefined }) {
  if (!change) return null;
  if (change.delta == null) return <span class="chip chip--new">NEW</span>;
  if (change.delta > 0) return <span class="chip chip--up">▲{change.delta}</span>;
  if (change.delta < 0) return <span class="chip chip--down">▼{-change.delta}</span>;
  return null;
}

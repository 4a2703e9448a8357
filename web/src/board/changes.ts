/** What changed between two leaderboards: rank moves, newcomers, a new leader. */
import type { Leaderboard, LeaderboardEntry } from "../types";

export interface Change {
  /** Places gained (positive) or lost (negative); null for a newcomer to the list. */
  delta: number | null;
  improved: boolean;
  at: number;
}

export type Changes = ReadonlyMap<string, Change>;

export const CHANGE_SHOWN_MS = 10_000;

/** Entries are keyed by participant name: an entry's id changes when its best drawing does. */
export function entryKey(entry: Pick<LeaderboardEntry, "name">): string {
  return entry.name;
}

export function diff(previous: Leaderboard | null, next: Leaderboard, held: Changes, now: number): Changes {
  const result = new Map<string, Change>();
  for (const [key, change] of held) if (now - change.at < CHANGE_SHOWN_MS) result.set(key, change);
  if (!previous) return result;
  const before = new Map(previous.submissions.map((e) => [entryKey(e), e]));
  for (const entry of next.submissions) {
    const old = before.get(entryKey(entry));
    if (!old) {
      result.set(entryKey(entry), { delta: null, improved: true, at: now });
    } else if (old.rank !== entry.rank || old.score !== entry.score) {
      const delta = old.rank - entry.rank;
      const improved = entry.score > old.score;
      if (delta !== 0 || improved) result.set(entryKey(entry), { delta, improved, at: now });
    }
  }
  return result;
}

/** The new leader when #1 changed hands (not on the first board seen). */
export function newLeader(previous: Leaderboard | null, next: Leaderboard): LeaderboardEntry | null {
  const leader = next.submissions.find((e) => e.rank === 1) ?? next.submissions[0];
  const before = previous?.submissions.find((e) => e.rank === 1) ?? previous?.submissions[0];
  if (!previous || !leader) return null;
  if (!before) return leader; // the very first score of the event
  return entryKey(before) === entryKey(leader) ? null : leader;
}

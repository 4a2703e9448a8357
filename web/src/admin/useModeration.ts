/**
 * Live data for moderating one event: the moderation feed (latest drawings with
 * prompts and moderation state, hidden ones too), the live standings (also while the
 * public board is frozen), the review queue, and who of the feed is banned or staff.
 * Both subscriptions send the full state first, so a reconnect restores them.
 */
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { PLAYERS_PER_QUERY, playersQuery, REVIEW_QUEUE, WATCH_MODERATION_FEED, WATCH_ORGANISER_LEADERBOARD } from "../operations";
import type { ApiError } from "../api";
import type { Leaderboard, ModeratedSubmission, PlayerFlags } from "../types";
import { call, live, sessionEnded } from "./organiser";

export const FEED_SIZE = 24;
export const TOP_SIZE = 10;
const REVIEW_EVERY_MS = 2_000;
const FLAGS_EVERY_MS = 20_000;

/** A live organiser subscription's latest value (null until the first; no variables: off). */
function useSubscription<D, T>(
  query: string,
  variables: Record<string, unknown> | null,
  pick: (data: D) => T,
): [T | null, (change: (value: T | null) => T | null) => void, ApiError | null] {
  const [value, setValue] = useState<T | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const pickRef = useRef(pick);
  pickRef.current = pick;
  const key = variables && JSON.stringify(variables);
  useEffect(() => {
    setValue(null);
    setError(null);
    if (key == null) return undefined;
    return live.subscribe<D>(query, JSON.parse(key) as Record<string, unknown>, {
      next: (data) => {
        setValue(pickRef.current(data));
        setError(null);
      },
      error: (refused) => {
        if (refused.code === "UNAUTHENTICATED") sessionEnded(refused);
        setError(refused);
      },
    });
  }, [query, key]);
  return [value, setValue, error];
}

export function useModerationFeed(eventId: string) {
  const [feed, setFeed, error] = useSubscription(
    WATCH_MODERATION_FEED,
    { eventId, first: FEED_SIZE },
    (data: { moderationFeed: ModeratedSubmission[] }) => data.moderationFeed,
  );
  /** Take a submission as a moderation mutation answered it (the feed follows soon). */
  const patch = useCallback(
    (changed: ModeratedSubmission) => setFeed((list) => list?.map((s) => (s.id === changed.id ? changed : s)) ?? list),
    [setFeed],
  );
  return { feed, patch, error };
}

/** The live standings and counts of an event (none while `eventId` is null). */
export function useLiveTop(eventId: string | null): Leaderboard | null {
  const [board] = useSubscription(
    WATCH_ORGANISER_LEADERBOARD,
    eventId ? { eventId, first: TOP_SIZE } : null,
    (data: { organiserLeaderboard: Leaderboard }) => data.organiserLeaderboard,
  );
  return board;
}

/** Drawings held for review, re-read when `version` (e.g. the feed) changes, at most
 * every {@link REVIEW_EVERY_MS} however busy the feed is. */
export function useReviewQueue(eventId: string, enabled: boolean, version: unknown) {
  const [queue, setQueue] = useState<ModeratedSubmission[]>([]);
  const lastRead = useRef(0);
  const reread = useCallback(() => {
    lastRead.current = Date.now();
    call<{ reviewQueue: ModeratedSubmission[] }>(REVIEW_QUEUE, { eventId, first: 20 })
      .then((data) => setQueue(data.reviewQueue))
      .catch(() => undefined);
  }, [eventId]);
  useEffect(() => {
    if (!enabled) {
      setQueue([]);
      return undefined;
    }
    const timer = setTimeout(reread, Math.max(0, lastRead.current + REVIEW_EVERY_MS - Date.now()));
    return () => clearTimeout(timer);
  }, [reread, enabled, version]);
  const drop = useCallback((id: string) => setQueue((list) => list.filter((s) => s.id !== id)), []);
  return { queue, drop };
}

/**
 * Banned and staff flags of the participants in view, in batches of a few aliased
 * `participant` lookups: again when the ids change and every {@link FLAGS_EVERY_MS} (for
 * another organiser's actions); {@link remember} takes what an action here answered.
 */
export function usePlayerFlags(ids: readonly string[]) {
  const [flags, setFlags] = useState<ReadonlyMap<string, PlayerFlags>>(new Map());
  const wanted = [...new Set(ids)].sort().join(",");
  useEffect(() => {
    const list = wanted ? wanted.split(",") : [];
    let cancelled = false;
    const read = async () => {
      const found = new Map<string, PlayerFlags>();
      for (let i = 0; i < list.length; i += PLAYERS_PER_QUERY) {
        const batch = list.slice(i, i + PLAYERS_PER_QUERY);
        const variables = Object.fromEntries(batch.map((id, n) => [`p${n}`, id]));
        try {
          const data = await call<Record<string, PlayerFlags | null>>(playersQuery(batch.length), variables);
          for (const player of Object.values(data)) if (player) found.set(player.id, player);
        } catch {
          return; // keep what we knew; the next round tries again
        }
      }
      if (!cancelled) setFlags(found);
    };
    const first = setTimeout(() => void read(), 150);
    const again = setInterval(() => void read(), FLAGS_EVERY_MS);
    return () => {
      cancelled = true;
      clearTimeout(first);
      clearInterval(again);
    };
  }, [wanted]);
  const remember = useCallback(
    (player: PlayerFlags) =>
      setFlags((map) => new Map(map).set(player.id, { id: player.id, staff: player.staff, banned: player.banned })),
    [],
  );
  return { flags, remember };
}

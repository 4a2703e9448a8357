/**
 * The big screen's state. The leaderboard subscription sends the full current state
 * first and then every change, so after any reconnect the board is whole again;
 * it also re-reads `event` and `leaderboard` over HTTP after each reconnect and every
 * minute (title, target and status are not part of the subscription).
 */
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { request } from "../api";
import { loadConfig } from "../config";
import { Live } from "../live";
import { BOARD_STATE, WATCH_LEADERBOARD } from "../operations";
import type { ClientConfig, ContestEvent, Leaderboard, LeaderboardEntry } from "../types";
import { diff, newLeader, type Changes } from "./changes";

const REREAD_EVERY_MS = 60_000;
const CELEBRATION_MS = 7_000;

// The screens' own endpoint: lean on the server, so one process holds thousands of boards.
export const live = new Live({ eager: true, path: "/graphql/screen" });

export interface Celebration {
  entry: LeaderboardEntry;
  at: number;
}

export interface BoardModel {
  config: ClientConfig | null;
  event: ContestEvent | null;
  board: Leaderboard | null;
  changes: Changes;
  celebration: Celebration | null;
}

export function topFromQuery(search: string): number {
  const value = Number(new URLSearchParams(search).get("top"));
  return Number.isInteger(value) && value >= 3 && value <= 20 ? value : 10;
}

export function useBoard(first: number, beforeChange: () => void): BoardModel {
  const [config, setConfig] = useState<ClientConfig | null>(null);
  const [event, setEvent] = useState<ContestEvent | null>(null);
  const [board, setBoard] = useState<Leaderboard | null>(null);
  const [changes, setChanges] = useState<Changes>(new Map());
  const [celebration, setCelebration] = useState<Celebration | null>(null);
  const current = useRef<Leaderboard | null>(null);
  const changesRef = useRef<Changes>(new Map());
  const beforeChangeRef = useRef(beforeChange);
  beforeChangeRef.current = beforeChange;

  const rereadRef = useRef<() => void>(() => undefined);
  /** `pushed`: from the subscription, whose messages are in order; HTTP reads may be older. */
  const accept = useCallback((next: Leaderboard, pushed: boolean) => {
    if (current.current && current.current.eventId !== next.eventId) {
      // The organisers switched the current event: no rank animation across events,
      // and the title and target picture come from the new event.
      current.current = null;
      if (pushed) rereadRef.current();
    }
    const previous = current.current;
    if (!pushed && previous && next.lastUpdatedAt < previous.lastUpdatedAt) return;
    if (previous && sameBoard(previous, next)) {
      current.current = next;
      return;
    }
    const now = Date.now();
    const leader = newLeader(previous, next);
    if (leader) setCelebration({ entry: leader, at: now });
    changesRef.current = diff(previous, next, changesRef.current, now);
    beforeChangeRef.current();
    current.current = next;
    setChanges(changesRef.current);
    setBoard(next);
  }, []);

  const eventId = useRef<string | null>(null);
  const reread = useCallback(() => {
    request<{ event: ContestEvent; leaderboard: Leaderboard }>(BOARD_STATE, { first }, { retries: 2 })
      .then((data) => {
        setEvent(data.event);
        eventId.current = data.event.id;
        accept(data.leaderboard, false);
      })
      .catch(() => undefined); // the connection badge already says we are behind
  }, [accept, first]);
  rereadRef.current = reread;

  useEffect(() => {
    let stopped = false;
    const loadConfigUntilItWorks = (attempt: number) => {
      loadConfig().then(
        (loaded) => !stopped && setConfig(loaded),
        () => !stopped && setTimeout(() => loadConfigUntilItWorks(attempt + 1), Math.min(30_000, 2_000 * 2 ** attempt)),
      );
    };
    loadConfigUntilItWorks(0);
    reread();
    const stop = live.subscribe<{ leaderboard: Leaderboard }>(WATCH_LEADERBOARD, { first }, {
      next: (data) => accept(data.leaderboard, true),
    });
    const offReconnect = live.onReconnect(reread);
    const timer = setInterval(reread, REREAD_EVERY_MS);
    return () => {
      stopped = true;
      stop();
      offReconnect();
      clearInterval(timer);
    };
  }, [accept, reread, first]);

  useEffect(() => {
    if (!celebration) return undefined;
    const timer = setTimeout(() => setCelebration(null), CELEBRATION_MS);
    return () => clearTimeout(timer);
  }, [celebration]);

  return { config, event, board, changes, celebration };
}

function sameBoard(a: Leaderboard, b: Leaderboard): boolean {
  return (
    a.participantCount === b.participantCount &&
    a.submissionCount === b.submissionCount &&
    a.frozen === b.frozen &&
    a.stale === b.stale &&
    a.submissions.length === b.submissions.length &&
    a.latest.length === b.latest.length &&
    a.submissions.every((e, i) => {
      const o = b.submissions[i];
      return (
        e.id === o.id &&
        e.rank === o.rank &&
        e.score === o.score &&
        e.name === o.name &&
        e.imageUrl === o.imageUrl &&
        (e.prompt ?? null) === (o.prompt ?? null) // the organisers revealed or took back the prompts
      );
    }) &&
    a.latest.every((d, i) => d.id === b.latest[i].id && d.imageUrl === b.latest[i].imageUrl)
  );
}

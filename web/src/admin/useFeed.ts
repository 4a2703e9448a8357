/**
 * The console's live data: the leaderboard subscription (top entries and the latest
 * drawings) plus the event. It asks for the moderation fields (prompt, participant)
 * and falls back to the public fields when the server does not offer them.
 */
import { useEffect, useState } from "preact/hooks";
import { request } from "../api";
import { Live } from "../live";
import { EVENT, WATCH_LEADERBOARD, WATCH_MODERATION } from "../operations";
import { organiserToken } from "../session";
import type { ContestEvent, Leaderboard } from "../types";

export const live = new Live({ eager: true, token: () => organiserToken.get() });

const FIRST = 20;

export interface Feed {
  event: ContestEvent | null;
  board: Leaderboard | null;
  /** The server sends prompts and participant ids with the latest drawings. */
  rich: boolean;
}

export function useFeed(token: string | null): Feed {
  const [event, setEvent] = useState<ContestEvent | null>(null);
  const [board, setBoard] = useState<Leaderboard | null>(null);
  const [rich, setRich] = useState(true);

  useEffect(() => setRich(true), [token]);

  useEffect(() => {
    const stop = live.subscribe<{ leaderboard: Leaderboard }>(rich ? WATCH_MODERATION : WATCH_LEADERBOARD, { first: FIRST }, {
      next: (data) => setBoard(data.leaderboard),
      error: () => {
        if (rich) setRich(false);
      },
    });
    return stop;
  }, [rich, token]);

  useEffect(() => {
    const read = () =>
      request<{ event: ContestEvent }>(EVENT, {}, { retries: 2, token: organiserToken.get() })
        .then((data) => setEvent(data.event))
        .catch(() => undefined);
    read();
    const off = live.onReconnect(read);
    const timer = setInterval(read, 30_000);
    return () => {
      off();
      clearInterval(timer);
    };
  }, []);

  return { event, board, rich };
}

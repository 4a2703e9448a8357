/**
 * The events the console manages, and which one it works on: the one chosen in the
 * header, else the current one (the one /play and /board show).
 */
import { useCallback, useEffect, useState } from "preact/hooks";
import { asApiError, type ApiError } from "../api";
import { EVENTS } from "../operations";
import { createStore, useStore } from "../store";
import type { OrganiserEvent } from "../types";
import { call, live } from "./organiser";

const REREAD_EVERY_MS = 15_000;

/** The event chosen in the header; null follows the current event. */
export const chosenEventId = createStore<string | null>(null);

export interface EventsModel {
  events: OrganiserEvent[] | null;
  /** The event the console works on. */
  selected: OrganiserEvent | null;
  error: ApiError | null;
  refresh(): Promise<void>;
  /** Take an event as a mutation answered it. */
  replace(event: OrganiserEvent): void;
}

export function useEvents(): EventsModel {
  const [events, setEvents] = useState<OrganiserEvent[] | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const chosen = useStore(chosenEventId);

  const refresh = useCallback(
    () =>
      call<{ events: OrganiserEvent[] }>(EVENTS, {}, { retries: 1 }).then(
        (data) => {
          setEvents(data.events);
          setError(null);
        },
        (caught: unknown) => setError(asApiError(caught)),
      ),
    [],
  );

  useEffect(() => {
    void refresh();
    const timer = setInterval(() => void refresh(), REREAD_EVERY_MS);
    const off = live.onReconnect(() => void refresh());
    return () => {
      clearInterval(timer);
      off();
    };
  }, [refresh]);

  const replace = useCallback(
    (event: OrganiserEvent) => {
      setEvents((list) => {
        if (!list) return [event];
        const known = list.some((e) => e.id === event.id);
        const next = known ? list.map((e) => (e.id === event.id ? event : e)) : [...list, event];
        // Only one event is current.
        return event.current ? next.map((e) => (e.id === event.id ? e : { ...e, current: false })) : next;
      });
    },
    [],
  );

  const selected =
    events?.find((e) => e.id === chosen) ?? events?.find((e) => e.current) ?? events?.[events.length - 1] ?? null;
  return { events, selected, error, refresh, replace };
}

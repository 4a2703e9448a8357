/**
 * The phone page's state: the event, the participant, and the submission being
 * followed, kept in step with the server over a flaky network.
 *
 * Resynchronisation is plain: whenever the page may have missed something (start,
 * back online, tab visible again, a drawing finished, every so often) it re-reads
 * `event` and `me` over HTTP. The submission being drawn is followed over the
 * WebSocket, with HTTP polling whenever the socket is not live.
 */
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { ApiError, asApiError, request } from "../api";
import { loadConfig } from "../config";
import { Live } from "../live";
import { JOIN, PLAY_STATE, SUBMISSION, SUBMIT_PROMPT, WATCH_SUBMISSION } from "../operations";
import { participantToken } from "../session";
import { useNow, useStore } from "../store";
import { isFinished, type ClientConfig, type ContestEvent, type Participant, type Submission } from "../types";
import { merge, sortNewestFirst, track, unfinished, upsert, type Tracked } from "./tracking";

const REFRESH_EVERY_MS = 45_000;
const POLL_EVERY_MS = 3_000;
const QUIET_BEFORE_POLL_MS = 6_000;
/** A drawing is being followed but the socket has been down this long: say so. */
const SHAKY_AFTER_MS = 4_000;

export const live = new Live({ token: () => participantToken.get(), eager: false });

export type Phase = "loading" | "failed" | "ready";

export interface PlayModel {
  phase: Phase;
  loadError: ApiError | null;
  config: ClientConfig | null;
  event: ContestEvent | null;
  me: Participant | null;
  current: Tracked | null;
  /** An error to show on the join form (e.g. the session ended). */
  joinNotice: ApiError | null;
  banned: boolean;
  online: boolean;
  /** The socket is down while a drawing is being followed. */
  reconnecting: boolean;
  retryLoad(): void;
  /** `contact` is sent only when the attendee ticked the consent box; `captcha` where
   * the event asks for one. */
  join(nickname: string, contact: string | null, captcha: string | null): Promise<void>;
  submit(prompt: string, captcha: string | null): Promise<Submission>;
  show(submission: Submission): void;
}

interface PlayState {
  event: ContestEvent;
  me: Participant | null;
}

function normalise(me: Participant | null): Participant | null {
  return me ? { ...me, submissions: sortNewestFirst(me.submissions ?? []) } : null;
}

export function usePlay(): PlayModel {
  const [phase, setPhase] = useState<Phase>("loading");
  const [loadError, setLoadError] = useState<ApiError | null>(null);
  const [config, setConfig] = useState<ClientConfig | null>(null);
  const [event, setEvent] = useState<ContestEvent | null>(null);
  const [me, setMe] = useState<Participant | null>(null);
  const [current, setCurrent] = useState<Tracked | null>(null);
  const [joinNotice, setJoinNotice] = useState<ApiError | null>(null);
  const [banned, setBanned] = useState(false);
  const [bootAttempt, setBootAttempt] = useState(0);
  const online = useOnline();
  const link = useStore(live.state);
  const now = useNow(1000, link.status !== "live");
  const refreshing = useRef<Promise<void> | null>(null);

  const applyState = useCallback((data: PlayState) => {
    setEvent(data.event);
    const fresh = normalise(data.me);
    if (!fresh && participantToken.get()) participantToken.clear(); // data reset or expired
    setMe(fresh);
    setCurrent((previous) => {
      const list = fresh?.submissions ?? [];
      const inFlight = unfinished(list);
      if (inFlight && (!previous || isFinished(previous.submission))) return merge(previous, inFlight);
      const same = previous && list.find((s) => s.id === previous.submission.id);
      if (previous && same) return merge(previous, same);
      if (!previous && list[0]) return track(list[0]);
      return fresh ? previous : null;
    });
  }, []);

  /** Re-read everything; concurrent calls share one request. */
  const refresh = useCallback((): Promise<void> => {
    refreshing.current ??= request<PlayState>(PLAY_STATE, {}, { token: participantToken.get(), retries: 2 })
      .then(applyState)
      .finally(() => {
        refreshing.current = null;
      });
    return refreshing.current;
  }, [applyState]);

  // Start-up, retried with backoff until it works.
  useEffect(() => {
    let cancelled = false;
    Promise.all([loadConfig(), refresh()]).then(
      ([loaded]) => {
        if (cancelled) return;
        setConfig(loaded);
        setPhase("ready");
      },
      (error: unknown) => {
        if (cancelled) return;
        setLoadError(asApiError(error));
        setPhase("failed");
      },
    );
    return () => {
      cancelled = true;
    };
  }, [refresh, bootAttempt]);

  useEffect(() => {
    if (phase !== "failed") return undefined;
    const timer = setTimeout(() => setBootAttempt((n) => n + 1), 5_000 + bootAttempt * 2_000);
    return () => clearTimeout(timer);
  }, [phase, bootAttempt]);

  // Resynchronise when the phone wakes up or the network comes back, and now and then.
  useEffect(() => {
    if (phase !== "ready") return undefined;
    const quietly = () => void refresh().catch(() => undefined);
    const onVisible = () => {
      if (document.visibilityState === "visible") quietly();
    };
    window.addEventListener("online", quietly);
    document.addEventListener("visibilitychange", onVisible);
    const timer = setInterval(() => {
      if (document.visibilityState === "visible") quietly();
    }, REFRESH_EVERY_MS);
    return () => {
      window.removeEventListener("online", quietly);
      document.removeEventListener("visibilitychange", onVisible);
      clearInterval(timer);
    };
  }, [phase, refresh]);

  const receive = useCallback((submission: Submission) => {
    setCurrent((previous) => (previous && previous.submission.id !== submission.id ? previous : merge(previous, submission)));
    setMe((previous) => (previous ? { ...previous, submissions: upsert(previous.submissions, submission) } : previous));
  }, []);

  // Follow the current submission until it is drawn and scored.
  const followId = current && !isFinished(current.submission) ? current.submission.id : null;
  useEffect(() => {
    if (!followId) return undefined;
    let lastUpdate = Date.now();
    const onUpdate = (submission: Submission | null) => {
      if (!submission) return;
      lastUpdate = Date.now();
      receive(submission);
    };
    const stop = live.subscribe<{ submission: Submission }>(WATCH_SUBMISSION, { id: followId }, {
      next: (data) => onUpdate(data.submission),
      error: () => undefined, // polling below carries on
    });
    const poll = setInterval(() => {
      const quiet = Date.now() - lastUpdate > QUIET_BEFORE_POLL_MS;
      if (live.state.get().status === "live" && !quiet) return;
      request<{ submission: Submission | null }>(SUBMISSION, { id: followId }, { token: participantToken.get() })
        .then((data) => onUpdate(data.submission))
        .catch(() => undefined);
    }, POLL_EVERY_MS);
    return () => {
      stop();
      clearInterval(poll);
    };
  }, [followId, receive]);

  // A finished drawing changes the best score and rank: re-read them.
  const followed = useRef<string | null>(null);
  useEffect(() => {
    if (followId) {
      followed.current = followId;
    } else if (followed.current) {
      followed.current = null;
      void refresh().catch(() => undefined);
    }
  }, [followId, refresh]);

  const join = useCallback(
    async (nickname: string, contact: string | null, captcha: string | null) => {
      const variables = { nickname, captcha, ...(contact ? { contact, contactConsent: true } : {}) };
      try {
        const data = await request<{ join: { token: string; participant: Participant } }>(JOIN, variables);
        participantToken.set(data.join.token);
        setJoinNotice(null);
        setBanned(false);
        setMe(normalise(data.join.participant));
        setCurrent(null);
      } catch (error) {
        // The organisers turned the join captcha on since the page loaded: show it.
        if (asApiError(error).code === "CAPTCHA_REQUIRED") void refresh().catch(() => undefined);
        throw error;
      }
    },
    [refresh],
  );

  const submit = useCallback(
    async (prompt: string, captcha: string | null) => {
      try {
        const data = await request<{ submitPrompt: Submission }>(
          SUBMIT_PROMPT,
          { prompt, captcha },
          { token: participantToken.get(), timeoutMs: 20_000 },
        );
        setCurrent(track(data.submitPrompt));
        receive(data.submitPrompt);
        // A repeated prompt comes back already scored.
        if (isFinished(data.submitPrompt)) void refresh().catch(() => undefined);
        return data.submitPrompt;
      } catch (error) {
        const apiError = asApiError(error);
        switch (apiError.code) {
          case "UNAUTHENTICATED":
            participantToken.clear();
            setJoinNotice(apiError);
            setMe(null);
            setCurrent(null);
            break;
          case "EVENT_CLOSED":
            setEvent((previous) => (previous ? { ...previous, status: "CLOSED" } : previous));
            break;
          case "BANNED":
            setBanned(true);
            break;
          case "IN_FLIGHT":
          case "NETWORK":
            // The server may hold a drawing we have not heard of: pick it up.
            void refresh().catch(() => undefined);
            break;
          default:
            break;
        }
        throw apiError;
      }
    },
    [receive, refresh],
  );

  const show = useCallback((submission: Submission) => setCurrent(track(submission)), []);

  return {
    phase,
    loadError,
    config,
    event,
    me,
    current,
    joinNotice,
    banned,
    online,
    reconnecting: followId != null && link.status !== "live" && now - link.since > SHAKY_AFTER_MS,
    retryLoad: () => {
      setPhase("loading");
      setBootAttempt((n) => n + 1);
    },
    join,
    submit,
    show,
  };
}

function useOnline(): boolean {
  const [online, setOnline] = useState(typeof navigator === "undefined" ? true : navigator.onLine);
  useEffect(() => {
    const up = () => setOnline(true);
    const down = () => setOnline(false);
    window.addEventListener("online", up);
    window.addEventListener("offline", down);
    return () => {
      window.removeEventListener("online", up);
      window.removeEventListener("offline", down);
    };
  }, []);
  return online;
}

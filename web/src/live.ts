/**
 * The GraphQL WebSocket (`/graphql`, graphql-transport-ws) with the behaviour a
 * screen left alone for hours needs:
 *
 * - reconnects forever with randomised exponential backoff, sooner when the
 *   browser comes back online or the tab becomes visible;
 * - pings every few seconds and drops a socket whose pong does not come back
 *   (phones and Wi-Fi leave half-dead sockets that never close by themselves);
 * - after a fatal close (which graphql-ws does not retry) builds a fresh client
 *   and re-subscribes everything;
 * - publishes its {@link LinkState} so pages can say "Live" or "Reconnecting…",
 *   and tells listeners after each reconnect so they can re-read full state.
 */
import { createClient, type Client } from "graphql-ws";
import { ApiError, asApiError, backoffDelay, type GraphQLErrorShape } from "./api";
import { createStore, type Store } from "./store";

export type LinkStatus = "connecting" | "live" | "reconnecting";

export interface LinkState {
  status: LinkStatus;
  /** When anything (data, ack, pong) last came from the server; null before the first. */
  lastHeardAt: number | null;
  /** When the current status began. */
  since: number;
}

export interface Sink<T> {
  next(data: T): void;
  /** A GraphQL error for this operation (not a connection problem: those are retried). */
  error?(error: ApiError): void;
  complete?(): void;
}

export interface LiveOptions {
  /** The participant's token, sent as `token` in connection_init. */
  token?: () => string | null;
  /** Or the whole connection_init payload (the console sends `organiserToken`). */
  connectionParams?: () => Record<string, unknown>;
  /** false: connect only while something is subscribed (phones). */
  eager?: boolean;
  /** The WebSocket path: `/graphql` (default), or `/graphql/screen` for big screens,
   *  a lean endpoint that serves only the public leaderboard subscription. */
  path?: string;
  pingEveryMs?: number;
  pongTimeoutMs?: number;
}

interface Active {
  query: string;
  variables: Record<string, unknown>;
  sink: Sink<unknown>;
  stop: (() => void) | null;
  done: boolean;
}

export class Live {
  readonly state: Store<LinkState>;
  private client: Client | null = null;
  private readonly active = new Set<Active>();
  private readonly reconnectListeners = new Set<() => void>();
  private wake: (() => void) | null = null;
  private rebuildTimer: ReturnType<typeof setTimeout> | null = null;
  private pongTimer: ReturnType<typeof setTimeout> | null = null;
  private socket: WebSocket | null = null;
  private fatalCount = 0;
  private hasConnected = false;

  constructor(private readonly options: LiveOptions = {}) {
    this.state = createStore<LinkState>({ status: "connecting", lastHeardAt: null, since: Date.now() });
    const hurry = () => this.hurry();
    window.addEventListener("online", hurry);
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") hurry();
    });
    this.client = this.build();
  }

  /** Subscribe; the returned function unsubscribes. Survives reconnects and rebuilds. */
  subscribe<T>(query: string, variables: Record<string, unknown>, sink: Sink<T>): () => void {
    const entry: Active = { query, variables, sink: sink as Sink<unknown>, stop: null, done: false };
    this.active.add(entry);
    this.start(entry);
    return () => {
      entry.done = true;
      entry.stop?.();
      this.active.delete(entry);
    };
  }

  /** Called after every reconnect (not the first connect): re-read full state there. */
  onReconnect(listener: () => void): () => void {
    this.reconnectListeners.add(listener);
    return () => this.reconnectListeners.delete(listener);
  }

  /** Drop the socket and connect again now (e.g. after logging in with a new token). */
  restart() {
    this.rebuild(0);
  }

  private start(entry: Active) {
    if (!this.client || entry.done) return;
    entry.stop = this.client.subscribe(
      { query: entry.query, variables: entry.variables },
      {
        next: (result) => {
          this.heard();
          if (result.errors?.length) {
            entry.sink.error?.(ApiError.fromGraphQL(result.errors[0] as GraphQLErrorShape));
          } else if (result.data) {
            entry.sink.next(result.data);
          }
        },
        error: (error) => {
          if (Array.isArray(error)) {
            // The server refused the operation itself: not a connection problem.
            entry.done = true;
            this.active.delete(entry);
            entry.sink.error?.(asApiError(error));
            return;
          }
          // Fatal close or retries exhausted: start over with a fresh client.
          this.scheduleRebuild();
        },
        complete: () => {
          if (entry.done) return;
          entry.done = true;
          this.active.delete(entry);
          entry.sink.complete?.();
        },
      },
    );
  }

  private build(): Client {
    const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${this.options.path ?? "/graphql"}`;
    const pingEveryMs = this.options.pingEveryMs ?? 10_000;
    const pongTimeoutMs = this.options.pongTimeoutMs ?? 6_000;
    return createClient({
      url,
      lazy: !this.options.eager,
      lazyCloseTimeout: 3_000,
      keepAlive: pingEveryMs,
      retryAttempts: Number.POSITIVE_INFINITY,
      shouldRetry: () => true,
      retryWait: (retries) => this.wait(backoffDelay(retries + 1, 15_000, 1_000)),
      connectionAckWaitTimeout: 15_000,
      connectionParams: () => {
        if (this.options.connectionParams) return this.options.connectionParams();
        const token = this.options.token?.();
        return token ? { token } : {};
      },
      onNonLazyError: () => this.scheduleRebuild(),
      on: {
        connecting: () => this.setStatus(this.hasConnected ? "reconnecting" : "connecting"),
        connected: (socket) => {
          this.socket = socket as WebSocket;
          this.fatalCount = 0;
          this.heard();
          const wasReconnect = this.hasConnected;
          this.hasConnected = true;
          this.setStatus("live");
          if (wasReconnect) for (const listener of [...this.reconnectListeners]) listener();
        },
        closed: () => {
          this.socket = null;
          this.clearPongTimer();
          if (this.hasConnected) this.setStatus("reconnecting");
        },
        ping: (received) => {
          if (received) {
            this.heard();
            return;
          }
          this.clearPongTimer();
          this.pongTimer = setTimeout(() => {
            // No pong: the socket is dead even if the browser has not noticed.
            if (this.socket && this.socket.readyState === WebSocket.OPEN) {
              this.socket.close(4408, "pong timeout");
            }
          }, pongTimeoutMs);
        },
        pong: (received) => {
          if (!received) return;
          this.clearPongTimer();
          this.heard();
        },
        message: () => this.heard(),
      },
    });
  }

  private scheduleRebuild() {
    if (this.rebuildTimer) return;
    this.fatalCount += 1;
    this.setStatus(this.hasConnected ? "reconnecting" : "connecting");
    this.rebuildTimer = setTimeout(() => {
      this.rebuildTimer = null;
      this.rebuild();
    }, backoffDelay(this.fatalCount, 30_000, 1_000));
  }

  private rebuild(delay?: number) {
    if (delay === 0 && this.rebuildTimer) {
      clearTimeout(this.rebuildTimer);
      this.rebuildTimer = null;
    }
    const old = this.client;
    this.client = null;
    for (const entry of this.active) {
      const stop = entry.stop;
      entry.stop = null;
      stop?.();
    }
    void old?.dispose();
    this.client = this.build();
    for (const entry of this.active) this.start(entry);
  }

  /** Wait `ms`, or less if the network comes back or the tab wakes up. */
  private wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const previous = this.wake;
      this.wake = done;
      function done() {
        clearTimeout(timer);
        resolve();
      }
      previous?.();
    });
  }

  private hurry() {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  private heard() {
    const current = this.state.get();
    const now = Date.now();
    // At most one state change a second: a busy board hears ten messages a second.
    if (current.lastHeardAt != null && now - current.lastHeardAt < 1_000) return;
    this.state.set({ ...current, lastHeardAt: now });
  }

  private setStatus(status: LinkStatus) {
    const current = this.state.get();
    if (current.status === status) return;
    this.state.set({ ...current, status, since: Date.now() });
  }

  private clearPongTimer() {
    if (this.pongTimer) clearTimeout(this.pongTimer);
    this.pongTimer = null;
  }
}

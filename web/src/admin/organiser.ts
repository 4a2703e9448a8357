/**
 * The organiser's session, and every call the console makes to the organiser API.
 *
 * `organiserLogin` answers a token and also sets an HttpOnly, SameSite=Strict cookie.
 * The token is kept in memory only, never in storage a script could read later: while
 * the page lives, HTTP calls carry it as a bearer token and the WebSocket as
 * `organiserToken`; after a reload the cookie carries the session, with the
 * `X-Lookalike-CSRF` header the server asks cookie callers for (the browser sends the
 * cookie and `Origin` with the WebSocket by itself).
 */
import { ApiError, asApiError, request, type RequestOptions } from "../api";
import { Live } from "../live";
import {
  EVENT_ACTIONS,
  ORGANISER,
  ORGANISER_LOGIN,
  ORGANISER_LOGOUT,
  PARTICIPANTS,
  PLAYER_ACTIONS,
  SUBMISSION_ACTIONS,
} from "../operations";
import { createStore } from "../store";
import type { ModeratedSubmission, OrganiserEvent, OrganiserSession, Player } from "../types";

export type SessionState =
  | { status: "checking" }
  /** `notice`: why the console is logged out (the session ended), if it was logged in. */
  | { status: "out"; notice: ApiError | null }
  | ({ status: "in" } & OrganiserSession);

export const session = createStore<SessionState>({ status: "checking" });

let token: string | null = null;

const CSRF_HEADERS = { "X-Lookalike-CSRF": "1" };

/** The console's WebSocket: the moderation feed and the live standings (connected while
 * anything is subscribed, so not on the login screen). */
export const live = new Live({
  eager: false,
  connectionParams: (): Record<string, unknown> => (token ? { organiserToken: token } : {}),
});

// Earlier consoles kept the token in localStorage; nothing should read it any more.
try {
  localStorage.removeItem("lookalike.organiserToken");
} catch {
  // storage blocked: nothing was kept either
}

/** One organiser API call; UNAUTHENTICATED logs the console out (the session ended). */
export async function call<T>(
  query: string,
  variables: Record<string, unknown> = {},
  options: RequestOptions = {},
): Promise<T> {
  try {
    return await request<T>(query, variables, { ...options, token, headers: CSRF_HEADERS });
  } catch (error) {
    const apiError = asApiError(error);
    if (apiError.code === "UNAUTHENTICATED") sessionEnded(apiError);
    throw apiError;
  }
}

/**
 * A new target picture for an event, sent as its bytes to `POST /admin/events/{id}/target`
 * (a picture is too big for a GraphQL request, whose body the server bounds). Answers the
 * picture's new URL; throws {@link ApiError}.
 */
export async function uploadTarget(eventId: string, file: File): Promise<string> {
  const headers: Record<string, string> = { ...CSRF_HEADERS, "Content-Type": file.type || "application/octet-stream" };
  if (token) headers.Authorization = `Bearer ${token}`;
  let response: Response;
  try {
    response = await fetch(`/admin/events/${encodeURIComponent(eventId)}/target`, {
      method: "POST",
      body: file,
      headers,
      credentials: "same-origin",
    });
  } catch (error) {
    throw asApiError(error);
  }
  const body = (await response.json().catch(() => null)) as
    | { targetImageUrl?: string; error?: { code?: string; message?: string; reason?: string } }
    | null;
  if (response.ok && body?.targetImageUrl) return body.targetImageUrl;
  const error = asApiError([{ message: body?.error?.message ?? `HTTP ${response.status}`, extensions: body?.error ?? {} }]);
  if (error.code === "UNAUTHENTICATED") sessionEnded(error);
  throw error;
}

/** The session ended on the server (expired, or logged out elsewhere). */
export function sessionEnded(notice: ApiError) {
  if (session.get().status !== "in") return;
  token = null;
  session.set({ status: "out", notice });
  live.restart();
}

/** Whether the login cookie still holds a session (after a reload); retries network errors. */
export async function checkSession(): Promise<void> {
  for (let attempt = 0; ; attempt += 1) {
    try {
      const data = await request<{ organiser: OrganiserSession | null }>(ORGANISER, {}, {
        token,
        headers: CSRF_HEADERS,
        retries: 2,
      });
      session.set(data.organiser ? { status: "in", ...data.organiser } : { status: "out", notice: null });
      return;
    } catch (error) {
      const apiError = asApiError(error);
      if (apiError.code !== "NETWORK") {
        session.set({ status: "out", notice: null }); // logging in will say what is wrong
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(30_000, 1_000 * 2 ** attempt)));
    }
  }
}

/** Log in; `name` says who acts in the audit log. Throws {@link ApiError}. */
export async function login(password: string, name: string): Promise<void> {
  const data = await request<{ organiserLogin: { token: string } & OrganiserSession }>(
    ORGANISER_LOGIN,
    { password, name },
    { headers: CSRF_HEADERS },
  );
  const { token: newToken, ...who } = data.organiserLogin;
  token = newToken;
  session.set({ status: "in", ...who });
  live.restart();
}

export async function logout(): Promise<void> {
  try {
    await request(ORGANISER_LOGOUT, {}, { token, headers: CSRF_HEADERS });
  } catch {
    // Already ended on the server: logged out either way.
  }
  token = null;
  session.set({ status: "out", notice: null });
  live.restart();
}

// ---------------------------------------------------------------- actions

export type SubmissionAction = keyof typeof SUBMISSION_ACTIONS;
export type PlayerAction = keyof typeof PLAYER_ACTIONS;
export type EventAction = keyof typeof EVENT_ACTIONS;

export async function moderateSubmission(
  action: SubmissionAction,
  id: string,
  variables: { reason?: string } = {},
): Promise<ModeratedSubmission> {
  const data = await call<{ result: ModeratedSubmission }>(SUBMISSION_ACTIONS[action], { id, ...variables });
  return data.result;
}

export async function moderatePlayer(
  action: PlayerAction,
  id: string,
  variables: { reason?: string; staff?: boolean } = {},
): Promise<Player> {
  const data = await call<{ result: Player }>(PLAYER_ACTIONS[action], { id, ...variables });
  return data.result;
}

export async function eventAction(action: EventAction, id: string): Promise<OrganiserEvent> {
  const data = await call<{ result: OrganiserEvent }>(EVENT_ACTIONS[action], { id });
  return data.result;
}

/** The participant with exactly this nickname (nicknames are unique in an event). */
export async function playerByNickname(eventId: string, nickname: string): Promise<Player> {
  const data = await call<{ participants: Player[] }>(PARTICIPANTS, { eventId, search: nickname, first: 50 });
  const found = data.participants.find((p) => p.nickname === nickname);
  if (!found) throw new ApiError("NOT_FOUND", `no participant ${nickname}`);
  return found;
}

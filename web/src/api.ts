/**
 * GraphQL over HTTP (`POST /graphql`, same origin) and the one error type the pages
 * handle: {@link ApiError}, whose `code` is the server's `extensions.code` or one of
 * the client's own codes for transport failures.
 */

/**
 * Codes for a request the server does not take as sent (server/api/intake.py): from a page,
 * most likely an old copy talking to a newer server.
 */
export const REQUEST_CODES = [
  "BAD_REQUEST",
  "METHOD_NOT_ALLOWED",
  "UNSUPPORTED_MEDIA_TYPE",
  "PAYLOAD_TOO_LARGE",
  "GRAPHQL_PARSE_FAILED",
  "GRAPHQL_VALIDATION_FAILED",
] as const;

const SERVER_CODES = [
  "INVALID_INPUT",
  "UNAUTHENTICATED",
  "FORBIDDEN",
  "NICKNAME_TAKEN",
  "EVENT_CLOSED",
  "NOT_FOUND",
  "CAPTCHA_REQUIRED",
  "CAPTCHA_INVALID",
  "RATE_LIMITED",
  "IN_FLIGHT",
  "BUSY",
  "BANNED",
  "UNAVAILABLE",
  ...REQUEST_CODES,
  "INTERNAL",
] as const;

/** The server's `extensions.code` values (server/errors.py's ErrorCode, checked by a test). */
export type ServerErrorCode = (typeof SERVER_CODES)[number];

const KNOWN_CODES: ReadonlySet<string> = new Set(SERVER_CODES);

const VALIDATION = /Cannot query field|Unknown argument|Unknown type|must have a selection|must not have a selection/;

/** NETWORK: no answer. UNSUPPORTED: the server does not know a field we asked for. */
export type ErrorCode = ServerErrorCode | "NETWORK" | "UNSUPPORTED";

export interface GraphQLErrorShape {
  message: string;
  extensions?: { code?: string; reason?: string; retryAfter?: number; [key: string]: unknown };
}

export class ApiError extends Error {
  readonly code: ErrorCode;
  readonly reason: string | undefined;
  /** Seconds until trying again makes sense (RATE_LIMITED, BUSY, UNAVAILABLE). */
  readonly retryAfter: number | undefined;
  /** Any other `extensions` (e.g. `submissionId` with IN_FLIGHT). */
  readonly details: Readonly<Record<string, unknown>>;

  constructor(
    code: ErrorCode,
    message: string,
    reason?: string,
    retryAfter?: number,
    details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = "ApiError";
    this.code = code;
    this.reason = reason;
    this.retryAfter = retryAfter;
    this.details = details;
  }

  static fromGraphQL(error: GraphQLErrorShape): ApiError {
    const ext = error.extensions ?? {};
    const retryAfter = typeof ext.retryAfter === "number" ? ext.retryAfter : undefined;
    const reason = typeof ext.reason === "string" ? ext.reason : undefined;
    // A validation error from the GraphQL layer itself: a field or argument this
    // server does not have (older server, or an organiser feature not landed yet).
    if (VALIDATION.test(error.message)) return new ApiError("UNSUPPORTED", error.message);
    if (typeof ext.code === "string" && KNOWN_CODES.has(ext.code)) {
      return new ApiError(ext.code as ServerErrorCode, error.message, reason, retryAfter, ext);
    }
    return new ApiError("INTERNAL", error.message, reason, retryAfter);
  }
}

export function asApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (Array.isArray(error) && error.length > 0) return ApiError.fromGraphQL(error[0] as GraphQLErrorShape);
  if (error instanceof Error) return new ApiError("NETWORK", error.message);
  return new ApiError("NETWORK", String(error));
}

export interface RequestOptions {
  /** Bearer token; null or omitted sends none (the session cookie may still apply). */
  token?: string | null;
  /** Extra request headers (the organiser console's CSRF header). */
  headers?: Record<string, string>;
  /** Extra attempts after network failures; only for operations safe to repeat. */
  retries?: number;
  timeoutMs?: number;
  signal?: AbortSignal;
}

const RETRYABLE_STATUS = new Set([408, 425, 429, 500, 502, 503, 504]);

/** Errors an operation safe to repeat is tried again after: no answer, or a part of
 * the server restarting (UNAVAILABLE). */
const RETRYABLE_CODES: ReadonlySet<ErrorCode> = new Set(["NETWORK", "UNAVAILABLE"]);

/** Run one GraphQL operation over HTTP; throws {@link ApiError}. */
export async function request<T>(
  query: string,
  variables: Record<string, unknown> = {},
  options: RequestOptions = {},
): Promise<T> {
  const attempts = 1 + (options.retries ?? 0);
  let lastError: ApiError = new ApiError("NETWORK", "no attempt made");
  for (let attempt = 0; attempt < attempts; attempt += 1) {
    if (attempt > 0) await backoff(attempt, options.signal);
    try {
      return await requestOnce<T>(query, variables, options);
    } catch (error) {
      lastError = asApiError(error);
      if (!RETRYABLE_CODES.has(lastError.code) || options.signal?.aborted) throw lastError;
    }
  }
  throw lastError;
}

async function requestOnce<T>(
  query: string,
  variables: Record<string, unknown>,
  options: RequestOptions,
): Promise<T> {
  const headers: Record<string, string> = {
    ...options.headers,
    "content-type": "application/json",
    accept: "application/graphql-response+json, application/json",
  };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  const timeout = timeoutSignal(options.timeoutMs ?? 15_000);
  const signal = options.signal ? anySignal([options.signal, timeout]) : timeout;
  let response: Response;
  try {
    response = await fetch("/graphql", {
      method: "POST",
      headers,
      body: JSON.stringify({ query, variables }),
      credentials: "same-origin",
      signal,
    });
  } catch (error) {
    throw new ApiError("NETWORK", error instanceof Error ? error.message : String(error));
  }
  let body: { data?: T | null; errors?: GraphQLErrorShape[] } | undefined;
  try {
    body = (await response.json()) as typeof body;
  } catch {
    body = undefined;
  }
  if (body?.errors?.length) throw ApiError.fromGraphQL(body.errors[0]);
  if (!response.ok || !body || body.data == null) {
    const code = RETRYABLE_STATUS.has(response.status) || !body ? "NETWORK" : "INTERNAL";
    throw new ApiError(code, `HTTP ${response.status}`);
  }
  return body.data;
}

/** Like `AbortSignal.timeout`, which older phones (iOS 15) lack. */
function timeoutSignal(ms: number): AbortSignal {
  const controller = new AbortController();
  setTimeout(() => controller.abort(new Error(`timed out after ${ms} ms`)), ms);
  return controller.signal;
}

function anySignal(signals: AbortSignal[]): AbortSignal {
  const controller = new AbortController();
  for (const s of signals) {
    if (s.aborted) controller.abort(s.reason);
    else s.addEventListener("abort", () => controller.abort(s.reason), { once: true });
  }
  return controller.signal;
}

/** Randomised exponential backoff: about 0.5 s, 1 s, 2 s … capped at `capMs`. */
export function backoffDelay(attempt: number, capMs = 30_000, baseMs = 500): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

function backoff(attempt: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, backoffDelay(attempt, 8_000));
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });
}

/** `GET` a JSON endpoint of the server (e.g. `/api/config`), retrying network failures. */
export async function getJson<T>(path: string, retries = 4): Promise<T> {
  let lastError: unknown;
  for (let attempt = 0; attempt <= retries; attempt += 1) {
    if (attempt > 0) await backoff(attempt);
    try {
      const response = await fetch(path, {
        credentials: "same-origin",
        signal: timeoutSignal(10_000),
      });
      if (response.ok) return (await response.json()) as T;
      lastError = new ApiError(RETRYABLE_STATUS.has(response.status) ? "NETWORK" : "INTERNAL", `HTTP ${response.status}`);
      if (!RETRYABLE_STATUS.has(response.status)) break;
    } catch (error) {
      lastError = error;
    }
  }
  throw asApiError(lastError);
}

/** What a person reads for each API error code. */
import { type ApiError, REQUEST_CODES } from "./api";
import { hasKey, type Translate } from "./i18n";

const COUNTDOWN_CODES: ReadonlySet<string> = new Set(["RATE_LIMITED", "BUSY", "UNAVAILABLE"]);

/** One message for every code of a request the server does not take as sent. */
const REQUEST: ReadonlySet<string> = new Set(REQUEST_CODES);

/** Error codes whose message counts down `retryAfter`. */
export function hasCountdown(error: ApiError): boolean {
  return COUNTDOWN_CODES.has(error.code) && error.retryAfter != null;
}

/** What was being tried, where an error reads differently for it (e.g. a join's limit). */
export type ErrorAction = "join";

/**
 * The friendly message for `error`. `secondsLeft` is the live countdown for
 * RATE_LIMITED, BUSY and UNAVAILABLE (the caller ticks it from `retryAfter`); `action`'s
 * own text (`err.CODE.action`) wins where there is one.
 */
export function errorMessage(error: ApiError, t: Translate, secondsLeft?: number, action?: ErrorAction): string {
  const own = action && `err.${error.code}.${action}`;
  const code = own && hasKey(own) ? own : `err.${error.code}`;
  if (COUNTDOWN_CODES.has(error.code)) {
    const s = secondsLeft ?? (error.retryAfter != null ? Math.ceil(error.retryAfter) : undefined);
    const key = s == null || s <= 0 ? `${code}.over` : code;
    return hasKey(key) ? t(key, { s: s ?? 0 }) : t("err.INTERNAL");
  }
  if (error.code === "INVALID_INPUT" && error.reason) {
    const key = `err.INVALID_INPUT.${error.reason}`;
    if (hasKey(key)) return t(key);
  }
  if (REQUEST.has(error.code)) return t("err.BAD_REQUEST");
  return hasKey(code) ? t(code) : t("err.INTERNAL");
}

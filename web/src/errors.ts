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

/**
 * The friendly message for `error`. `secondsLeft` is the live countdown for
 * RATE_LIMITED, BUSY and UNAVAILABLE (the caller ticks it from `retryAfter`).
 */
export function errorMessage(error: ApiError, t: Translate, secondsLeft?: number): string {
  if (error.code === "RATE_LIMITED" || error.code === "BUSY" || error.code === "UNAVAILABLE") {
    const s = secondsLeft ?? (error.retryAfter != null ? Math.ceil(error.retryAfter) : undefined);
    if (s == null || s <= 0) return t(`err.${error.code}.over`);
    return t(`err.${error.code}`, { s });
  }
  if (error.code === "INVALID_INPUT" && error.reason) {
    const key = `err.INVALID_INPUT.${error.reason}`;
    if (hasKey(key)) return t(key);
  }
  if (REQUEST.has(error.code)) return t("err.BAD_REQUEST");
  const key = `err.${error.code}`;
  return hasKey(key) ? t(key) : t("err.INTERNAL");
}

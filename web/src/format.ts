/** How numbers and times are shown: scores as percentages with two decimals. */
import type { Lang, Translate } from "./i18n";

/** 0.5910864 → "59.11%". Out-of-range or missing scores show a dash. */
export function percent(score: number | null | undefined): string {
  if (score == null || !Number.isFinite(score)) return "–";
  const clamped = Math.min(1, Math.max(0, score));
  return `${(clamped * 100).toFixed(2)}%`;
}

/** Whole seconds left until `deadlineMs`, never negative. */
export function secondsLeft(deadlineMs: number, nowMs: number): number {
  return Math.max(0, Math.ceil((deadlineMs - nowMs) / 1000));
}

/** "just now", "12 s ago", "3 min ago", "2 h ago". */
export function ago(thenMs: number, nowMs: number, t: Translate): string {
  const seconds = Math.max(0, Math.floor((nowMs - thenMs) / 1000));
  if (seconds < 5) return t("time.justNow");
  if (seconds < 60) return t("time.seconds", { n: seconds });
  if (seconds < 3600) return t("time.minutes", { n: Math.floor(seconds / 60) });
  return t("time.hours", { n: Math.floor(seconds / 3600) });
}

/** Wall-clock time such as "14:03:27". */
export function clock(ms: number, language: Lang): string {
  return new Date(ms).toLocaleTimeString(language === "ko" ? "ko-KR" : "en-GB", {
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
  });
}

export function count(n: number, language: Lang): string {
  return n.toLocaleString(language === "ko" ? "ko-KR" : "en-US");
}

/** Date and time such as "10 Jun, 09:30" (for schedules and logs). */
export function dateTime(ms: number, language: Lang): string {
  return new Date(ms).toLocaleString(language === "ko" ? "ko-KR" : "en-GB", {
    month: "short",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
  });
}

/**
 * Event times: the API speaks unix seconds, `<input type="datetime-local">` speaks
 * "2025-06-10T09:30" in the laptop's time zone.
 */

const pad = (n: number) => String(n).padStart(2, "0");

/** Unix seconds → the value of a datetime-local input ("" for none). */
export function toLocalInput(seconds: number | null | undefined): string {
  if (seconds == null || !Number.isFinite(seconds)) return "";
  const d = new Date(seconds * 1000);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** A datetime-local value → unix seconds; null when empty or not a time. */
export function fromLocalInput(value: string): number | null {
  const match = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(value.trim());
  if (!match) return null;
  const [, y, mo, d, h, mi, s] = match.map(Number);
  const date = new Date(y, mo - 1, d, h, mi, Number.isNaN(s) ? 0 : s);
  return Number.isNaN(date.getTime()) ? null : date.getTime() / 1000;
}

/** A schedule the server would refuse (it must close after it opens), before sending it. */
export function scheduleProblem(opensAt: number | null, closesAt: number | null): "order" | null {
  return opensAt != null && closesAt != null && closesAt <= opensAt ? "order" : null;
}

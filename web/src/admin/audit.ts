/** An audit log entry's change in a few words: only what differs, lists counted, ids cut. */

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function show(value: Json | undefined): string {
  if (value === undefined) return "–";
  if (Array.isArray(value)) return value.length === 0 ? "[]" : `[${value.length}]`;
  // The log's Target column shows ids by their last 12 characters too.
  if (typeof value === "string" && ID.test(value)) return `…${value.slice(-12)}`;
  if (value !== null && typeof value === "object") return `{${Object.keys(value).length}}`;
  return JSON.stringify(value);
}

function isRecord(value: unknown): value is Record<string, Json> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/**
 * `{hidden: false}` → `{hidden: true, reason: "spam"}` reads "hidden: false → true ·
 * reason: "spam""; keys that did not change are left out.
 */
export function describeChange(before: unknown, after: unknown): string {
  if (isRecord(before) || isRecord(after)) {
    const b = isRecord(before) ? before : {};
    const a = isRecord(after) ? after : {};
    const keys = [...new Set([...Object.keys(b), ...Object.keys(a)])];
    return keys
      .filter((key) => JSON.stringify(b[key]) !== JSON.stringify(a[key]))
      .map((key) => {
        if (!(key in b)) return `${key}: ${show(a[key])}`;
        if (!(key in a)) return `${key}: ${show(b[key])} → –`;
        return `${key}: ${show(b[key])} → ${show(a[key])}`;
      })
      .join(" · ");
  }
  if (before == null && after == null) return "";
  if (before == null) return show(after as Json);
  return `${show(before as Json)} → ${show(after as Json)}`;
}

/** Pure helpers for following one submission through the queue. */
import { isFinished, type Submission, type SubmissionStatus } from "../types";

/** A submission and when this copy of it arrived (its ETA counts from then). */
export interface Tracked {
  submission: Submission;
  receivedAt: number;
}

const STAGE: Record<SubmissionStatus, number> = { QUEUED: 0, GENERATING: 1, DONE: 2, FAILED: 2 };

export function track(submission: Submission, now = Date.now()): Tracked {
  return { submission, receivedAt: now };
}

/**
 * Take `next` unless it is older news than what we hold: updates reach us over the
 * WebSocket and over HTTP polling, and may arrive out of order.
 */
export function merge(previous: Tracked | null, next: Submission, now = Date.now()): Tracked {
  if (!previous || previous.submission.id !== next.id) return track(next, now);
  const held = previous.submission;
  if (STAGE[next.status] < STAGE[held.status]) return previous;
  if (isFinished(held) && isFinished(next)) return previous.submission === next ? previous : { ...previous, submission: next };
  return track(next, now);
}

/** Seconds until the drawing should be ready, counting down locally between updates. */
export function etaLeft(tracked: Tracked, now: number): number | null {
  const eta = tracked.submission.etaSeconds;
  if (eta == null || !Number.isFinite(eta)) return null;
  return Math.max(0, Math.ceil(eta - (now - tracked.receivedAt) / 1000));
}

/** Newest first (ids and createdAt are both time-ordered), one entry per id. */
export function upsert(list: Submission[], submission: Submission): Submission[] {
  const rest = list.filter((s) => s.id !== submission.id);
  return sortNewestFirst([submission, ...rest]);
}

export function sortNewestFirst(list: Submission[]): Submission[] {
  return [...list].sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
}

/** The submission still being drawn, if any. */
export function unfinished(list: Submission[]): Submission | undefined {
  return list.find((s) => !isFinished(s));
}

/** Line breaks and tabs become spaces; the server refuses control characters. */
export function cleanPrompt(text: string): string {
  return text.replace(/[\r\n\t]+/g, " ").replace(/[\u0000-\u001f\u007f]/g, "").replace(/ {2,}/g, " ").trim();
}

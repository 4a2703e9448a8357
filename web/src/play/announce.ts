/**
 * What the phone page says to a screen reader (one polite live region): where the
 * drawing being followed stands, and the player's rank. Only what changes is worth
 * saying, so the ticking wait estimate is left out.
 */
import { percent } from "../format";
import type { Translate } from "../i18n";
import type { Submission } from "../types";

export function announcement(
  submission: Submission | null,
  rank: number | null,
  total: number,
  t: Translate,
): string {
  const parts: string[] = [];
  if (submission?.status === "QUEUED") {
    parts.push(
      submission.queuePosition != null
        ? t("announce.queued", { n: submission.queuePosition })
        : t("announce.queuedNoPosition"),
    );
  } else if (submission?.status === "GENERATING") {
    parts.push(t("announce.generating"));
  } else if (submission?.status === "DONE") {
    parts.push(t("announce.done", { score: percent(submission.score) }));
  } else if (submission?.status === "FAILED") {
    parts.push(t("announce.failed"));
  }
  if (rank != null) parts.push(t("announce.rank", { rank, total: Math.max(total, rank) }));
  return parts.join(" ");
}

import { Picture } from "../components/Picture";
import { percent } from "../format";
import { useI18n } from "../i18n";
import { useNow } from "../store";
import type { ContestEvent, Participant } from "../types";
import { ShareButton } from "./ShareButton";
import { shareCardOf } from "./shareCard";
import { etaLeft, type Tracked } from "./tracking";

interface Props {
  tracked: Tracked;
  me: Participant;
  event: ContestEvent;
  /** Where the results will be, printed on the share card. */
  resultsUrl: string;
}

/**
 * The submission being followed: its place in line, the drawing, then the score.
 * A screen reader hears these changes from the page's live region (see announce.ts).
 */
export function ResultCard({ tracked, me, event, resultsUrl }: Props) {
  const { t } = useI18n();
  const { participantCount, targetImageUrl } = event;
  const { submission } = tracked;
  const waiting = submission.status === "QUEUED" || submission.status === "GENERATING";
  const now = useNow(1000, waiting);
  const card = shareCardOf(submission, me, event, resultsUrl, t);
  const eta = etaLeft(tracked, now);
  const isBest =
    submission.status === "DONE" &&
    !submission.deduplicated &&
    !submission.copied &&
    submission.score != null &&
    me.bestScore != null &&
    Math.abs(submission.score - me.bestScore) < 1e-12 &&
    me.submissions.filter((s) => s.status === "DONE").length > 1;

  return (
    <section class={`card result result--${submission.status.toLowerCase()}`} data-status={submission.status}>
      <p class="result__prompt">“{submission.prompt ?? ""}”</p>
      {submission.status === "DONE" ? (
        <>
          <div class="result__pictures">
            <Picture class="result__drawing" src={submission.imageUrl} alt={submission.prompt ?? ""} loading="eager" />
            <Picture class="result__target" src={targetImageUrl} alt={t("play.target")} />
          </div>
          <div class="result__score">
            <span class="result__score-label">{t("result.similarity")}</span>
            <strong class="result__score-value" data-testid="score">{percent(submission.score)}</strong>
          </div>
          {isBest ? <p class="result__badge">★ {t("result.newBest")}</p> : null}
          {me.rank != null ? (
            <p class="result__rank">{t("result.yourRank", { rank: me.rank, total: Math.max(participantCount, me.rank) })}</p>
          ) : null}
          {submission.hidden ? <p class="result__hint result__hint--hidden">{t("result.hidden")}</p> : null}
          <p class="result__hint" data-testid="result-hint">
            {submission.copied ? t("result.copied") : submission.deduplicated ? t("result.dedup") : t("result.tryAgain")}
          </p>
          {card ? <ShareButton card={card} name={`lookalike-${submission.id}.png`} /> : null}
        </>
      ) : submission.status === "FAILED" ? (
        <div class="result__failed">
          <strong>{t("status.failed")}</strong>
          <p>{t("status.failedHint")}</p>
        </div>
      ) : (
        <div class="result__waiting">
          <div class="result__canvas" aria-hidden="true">
            <span class="result__brush" />
          </div>
          <div class="result__status">
            <strong>{submission.status === "QUEUED" ? t("status.queued") : t("status.generating")}</strong>
            {submission.status === "QUEUED" && submission.queuePosition != null ? (
              <span class="result__position">{t("status.position", { n: submission.queuePosition })}</span>
            ) : null}
            {eta != null ? <span class="result__eta">{eta > 0 ? t("status.eta", { s: eta }) : t("status.etaSoon")}</span> : null}
          </div>
        </div>
      )}
    </section>
  );
}

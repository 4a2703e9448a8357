import { useState } from "preact/hooks";
import { Picture } from "../components/Picture";
import { count, percent } from "../format";
import { useI18n } from "../i18n";
import type { ContestEvent, Participant } from "../types";

/**
 * The target beside the player's numbers, compact so the prompt box stays on the
 * first screen; tapping the target shows it full width.
 */
export function MeCard({ me, event }: { me: Participant; event: ContestEvent }) {
  const { t, lang } = useI18n();
  const [large, setLarge] = useState(false);
  const total = Math.max(event.participantCount, me.rank ?? 0);
  return (
    <section class={`card me-card ${large ? "me-card--large" : ""}`}>
      <button
        type="button"
        class="me-card__target"
        aria-expanded={large}
        aria-label={t("play.target")}
        onClick={() => setLarge((v) => !v)}
      >
        <Picture class="me-card__picture" src={event.targetImageUrl} alt={t("play.target")} loading="eager" />
        <span class="me-card__target-label">{t("play.target")}</span>
        <span class="me-card__zoom" aria-hidden="true">{large ? "−" : "+"}</span>
      </button>
      <div class="me-card__side">
        <p class="me-card__name" title={me.nickname}>{me.nickname}</p>
        <dl class="me-card__stats">
          <div class="me-card__stat me-card__stat--best">
            <dt>{t("me.best")}</dt>
            <dd data-testid="best-score">{percent(me.bestScore)}</dd>
          </div>
          <div class="me-card__stat">
            <dt>{t("me.rank")}</dt>
            <dd data-testid="rank">
              {me.rank != null ? `#${me.rank}` : "–"}
              {me.rank != null ? <small> / {count(total, lang)}</small> : null}
            </dd>
          </div>
          <div class="me-card__stat">
            <dt>{t("me.drawings")}</dt>
            <dd>{count(me.submissions.length, lang)}</dd>
          </div>
        </dl>
      </div>
      {large ? <p class="me-card__hint">{t("play.targetHint")}</p> : null}
      {me.claimCode ? (
        <div class="me-card__claim">
          <p class="me-card__claim-label">{t("me.claimCode")}</p>
          <p class="me-card__claim-code" data-testid="claim-code">{me.claimCode}</p>
          <p class="me-card__claim-help">{t("me.claimHelp")}</p>
        </div>
      ) : null}
    </section>
  );
}

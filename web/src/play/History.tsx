import { Picture } from "../components/Picture";
import { percent } from "../format";
import { useI18n, type MessageKey } from "../i18n";
import type { Submission, SubmissionStatus } from "../types";

const STATUS_KEY: Record<SubmissionStatus, MessageKey> = {
  QUEUED: "status.queued",
  GENERATING: "status.generating",
  DONE: "status.done",
  FAILED: "status.failed",
};

interface Props {
  submissions: Submission[];
  bestScore: number | null;
  selectedId: string | null;
  onShow: (submission: Submission) => void;
  onReuse: (prompt: string) => void;
}

export function History({ submissions, bestScore, selectedId, onShow, onReuse }: Props) {
  const { t } = useI18n();
  return (
    <section class="card history">
      <h2 class="card__title">
        {t("history.title")} <span class="card__count">{submissions.length}</span>
      </h2>
      {submissions.length === 0 ? <p class="history__empty">{t("history.empty")}</p> : null}
      <ol class="history__list">
        {submissions.map((submission) => {
          const best = submission.score != null && bestScore != null && submission.score === bestScore;
          return (
            <li key={submission.id} class={`history__item ${submission.id === selectedId ? "history__item--selected" : ""}`}>
              <button type="button" class="history__show" onClick={() => onShow(submission)}>
                <Picture class="history__thumb" src={submission.status === "DONE" ? submission.imageUrl : null} alt="" />
                <span class="history__text">
                  <span class="sr-only">{t("history.show")}: </span>
                  <span class="history__prompt">{submission.prompt}</span>
                  <span class={`history__score ${best ? "history__score--best" : ""}`}>
                    {submission.status === "DONE" ? `${best ? "★ " : ""}${percent(submission.score)}` : t(STATUS_KEY[submission.status])}
                  </span>
                </span>
              </button>
              <button type="button" class="history__reuse" onClick={() => onReuse(submission.prompt)} aria-label={t("history.reuse")} title={t("history.reuse")}>
                ✎
              </button>
            </li>
          );
        })}
      </ol>
    </section>
  );
}

import { useEffect, useState } from "preact/hooks";
import { asApiError, request, type ApiError } from "../api";
import { TopBar } from "../components/TopBar";
import { Picture } from "../components/Picture";
import { errorMessage } from "../errors";
import { count, percent } from "../format";
import { useI18n } from "../i18n";
import { RESULTS } from "../operations";
import type { ResultEntry, Results as ResultsData } from "../types";

/** The podium and this many places below it. */
const SHOWN = 24;
/** Re-read now and then, so a reveal or the last scores reach a page left open. */
const REFRESH_EVERY_MS = 30_000;

/**
 * The take-home page: the podium, the top drawings and, once the organisers reveal
 * them, their prompts. A plain query (the public board's standings), re-read now and then.
 */
export function Results() {
  const { t, lang } = useI18n();
  const [data, setData] = useState<ResultsData | null>(null);
  const [error, setError] = useState<ApiError | null>(null);

  useEffect(() => {
    const load = () =>
      request<ResultsData>(RESULTS, { first: SHOWN }, { retries: 2 }).then(
        (fresh) => {
          setData(fresh);
          setError(null);
        },
        (caught: unknown) => setError(asApiError(caught)),
      );
    void load();
    const timer = setInterval(() => {
      if (document.visibilityState === "visible") void load();
    }, REFRESH_EVERY_MS);
    return () => clearInterval(timer);
  }, []);

  const event = data?.event;
  const entries = data?.leaderboard.submissions ?? [];
  const revealed = event?.promptsRevealed === true;

  return (
    <div class="results-app">
      <TopBar title={event?.title} />
      <main class="results-main" aria-busy={data == null && error == null}>
        <h1 class="results-title">{t("results.title")}</h1>
        {error ? (
          <p class="note note--error" role="alert">
            {error.code === "NOT_FOUND" ? t("load.noEvent") : errorMessage(error, t)}
          </p>
        ) : null}
        {event ? (
          <>
            <p class="results-counts">
              {count(data.leaderboard.participantCount, lang)} {t("board.players")} ·{" "}
              {count(data.leaderboard.submissionCount, lang)} {t("board.drawings")}
            </p>
            {event.status === "OPEN" && !data.leaderboard.frozen ? <p class="note note--info">{t("results.running")}</p> : null}
            {!revealed && entries.length > 0 ? (
              <p class="note" data-testid="prompts-hidden">{t("results.promptsHidden")}</p>
            ) : null}
            {entries.length === 0 ? <p class="note">{t("results.empty")}</p> : null}
            {entries.length > 0 ? (
              <section aria-labelledby="podium-title">
                <h2 class="results-heading" id="podium-title">{t("results.podium")}</h2>
                <ol class="results-podium">
                  {entries.slice(0, 3).map((entry) => (
                    <Place key={entry.id} entry={entry} podium />
                  ))}
                </ol>
              </section>
            ) : null}
            {entries.length > 3 ? (
              <section aria-labelledby="top-title">
                <h2 class="results-heading" id="top-title">{t("results.top")}</h2>
                <ol class="results-grid">
                  {entries.slice(3).map((entry) => (
                    <Place key={entry.id} entry={entry} />
                  ))}
                </ol>
              </section>
            ) : null}
            <section class="results-target" aria-labelledby="target-title">
              <h2 class="results-heading" id="target-title">{t("board.target")}</h2>
              <Picture class="results-target__picture" src={event.targetImageUrl} alt={t("board.target")} />
              {event.status !== "CLOSED" ? (
                <a class="button button--primary" href="/play">{t("results.play")}</a>
              ) : null}
            </section>
          </>
        ) : null}
      </main>
    </div>
  );
}

function Place({ entry, podium = false }: { entry: ResultEntry; podium?: boolean }) {
  const { t } = useI18n();
  return (
    <li class={`place ${podium ? `place--podium place--${entry.rank}` : ""}`} data-rank={entry.rank} data-testid="place">
      <Picture class="place__picture" src={entry.imageUrl} alt={entry.name} loading={podium ? "eager" : "lazy"} />
      <p class="place__line">
        <span class="place__rank">{t("results.rank", { rank: entry.rank })}</span>
        <span class="place__name">{entry.name}</span>
        <span class="place__score">{percent(entry.score)}</span>
      </p>
      {entry.prompt ? (
        <p class="place__prompt" data-testid="prompt">
          <span class="sr-only">{t("results.prompt")}: </span>“{entry.prompt}”
        </p>
      ) : null}
    </li>
  );
}

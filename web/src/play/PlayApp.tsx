import { useRef, useState } from "preact/hooks";
import { TopBar } from "../components/TopBar";
import { Picture } from "../components/Picture";
import { errorMessage } from "../errors";
import { useI18n } from "../i18n";
import { DEFAULT_NICKNAME_MAX_CHARS, DEFAULT_PROMPT_MAX_CHARS, isFinished } from "../types";
import { History } from "./History";
import { JoinForm } from "./JoinForm";
import { MeCard } from "./MeCard";
import { PromptForm, type Blocked } from "./PromptForm";
import { announcement } from "./announce";
import { ResultCard } from "./ResultCard";
import { usePlay } from "./usePlay";

export function PlayApp() {
  const { t } = useI18n();
  const model = usePlay();
  const [prompt, setPrompt] = useState("");
  const resultRef = useRef<HTMLDivElement>(null);
  const promptRef = useRef<HTMLDivElement>(null);
  const { event, me, config, current } = model;

  const closed = event?.status === "CLOSED";
  const blocked: Blocked = closed
    ? "closed"
    : model.banned
      ? "banned"
      : current && !isFinished(current.submission)
        ? "inFlight"
        : null;

  const target = event ? (
    <section class="card target">
      <h2 class="card__title">{t("play.target")}</h2>
      <Picture class="target__picture" src={event.targetImageUrl} alt={t("play.target")} loading="eager" />
      <p class="target__hint">{t("play.targetHint")}</p>
    </section>
  ) : null;

  return (
    <div class="play-app">
      <TopBar title={event?.title} />

      {!model.online ? (
        <p class="banner banner--offline" role="status">{t("banner.offline")}</p>
      ) : model.reconnecting ? (
        <p class="banner banner--reconnecting" role="status">{t("banner.reconnecting")}</p>
      ) : null}

      <p class="sr-only" role="status" aria-atomic="true" data-testid="announcer">
        {me ? announcement(current?.submission ?? null, me.rank, event?.participantCount ?? 0, t) : ""}
      </p>

      <main class="play-main">
        {model.phase === "loading" ? <div class="card skeleton" aria-busy="true" /> : null}

        {model.phase === "failed" ? (
          <section class="card load-failed" role="alert">
            {model.loadError?.code === "NOT_FOUND" ? (
              <p>{t("load.noEvent")}</p>
            ) : (
              <>
                <p>{t("load.failed")}</p>
                {model.loadError ? <p class="note note--error">{errorMessage(model.loadError, t)}</p> : null}
              </>
            )}
            <button class="button button--primary" type="button" onClick={model.retryLoad}>
              {t("load.retry")}
            </button>
          </section>
        ) : null}

        {model.phase === "ready" && event && config ? (
          <>
            {closed ? <p class="banner banner--closed">{t("err.EVENT_CLOSED")}</p> : null}


            {me ? (
              <>
                <MeCard me={me} event={event} />
                <div ref={promptRef}>
                  <PromptForm
                    config={config}
                    maxChars={config.limits?.promptMaxChars ?? DEFAULT_PROMPT_MAX_CHARS}
                    prompt={prompt}
                    onPromptChange={setPrompt}
                    blocked={blocked}
                    onSubmit={model.submit}
                    onSubmitted={() => resultRef.current?.scrollIntoView({ behavior: "smooth", block: "start" })}
                  />
                </div>
                <div ref={resultRef} class="result-anchor">
                  {current ? (
                    <ResultCard tracked={current} me={me} event={event} resultsUrl={resultsUrl(config.playUrl)} />
                  ) : null}
                </div>
                <History
                  submissions={me.submissions}
                  bestScore={me.bestScore}
                  selectedId={current?.submission.id ?? null}
                  onShow={(submission) => {
                    model.show(submission);
                    resultRef.current?.scrollIntoView({ behavior: "smooth", block: "start" });
                  }}
                  onReuse={(text) => {
                    setPrompt(text);
                    promptRef.current?.scrollIntoView({ behavior: "smooth", block: "start" });
                    promptRef.current?.querySelector("textarea")?.focus({ preventScroll: true });
                  }}
                />
              </>
            ) : (
              <JoinForm
                key={model.joinNotice ? "notice" : "join"}
                maxChars={config.limits?.nicknameMaxChars ?? DEFAULT_NICKNAME_MAX_CHARS}
                closed={closed}
                notice={model.joinNotice}
                captcha={event.joinCaptcha && config.captcha.provider !== "off" ? config.captcha : null}
                onJoin={model.join}
              />
            )}
            {me ? null : target}
          </>
        ) : null}
      </main>
    </div>
  );
}

/** The results page beside the play page (the public address the server gave). */
function resultsUrl(playUrl: string): string {
  return playUrl.replace(/\/play$/, "/results");
}

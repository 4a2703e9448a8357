import { useLayoutEffect, useMemo, useRef } from "preact/hooks";
import { ConnectionBadge } from "../components/ConnectionBadge";
import { Picture } from "../components/Picture";
import { clock, count } from "../format";
import { translate, useI18n, type MessageKey } from "../i18n";
import { useNow, useStore } from "../store";
import { Celebration } from "./Celebration";
import { CHANGE_SHOWN_MS } from "./changes";
import { createFlip } from "./flip";
import { LatestStrip } from "./LatestStrip";
import { Podium } from "./Podium";
import { Ranking } from "./Ranking";
import { live, topFromQuery, useBoard } from "./useBoard";

/** After this long without a live connection the whole board says it is behind. */
const STALE_AFTER_MS = 5_000;

export function Board() {
  const { t, lang } = useI18n();
  const root = useRef<HTMLDivElement>(null);
  const flip = useMemo(() => createFlip(), []);
  const first = useMemo(() => topFromQuery(location.search), []);
  const { config, event, board, changes, celebration } = useBoard(first, () => flip.capture(root.current));
  const link = useStore(live.state);
  const now = useNow(1000);

  useLayoutEffect(() => flip.play(root.current), [board, flip]);

  const fresh = useMemo(
    () => new Map([...changes].filter(([, change]) => now - change.at < CHANGE_SHOWN_MS)),
    [changes, Math.floor(now / 1000)],
  );
  // Cut off, or connected to a server that says it is cut off from the contest state.
  const stale =
    (link.status !== "live" && now - link.since >= STALE_AFTER_MS && link.lastHeardAt != null) ||
    board?.stale === true;
  const entries = board?.submissions ?? [];
  const participants = board?.participantCount ?? event?.participantCount ?? 0;
  const drawings = board?.submissionCount ?? event?.submissionCount ?? 0;
  const other = lang === "en" ? "ko" : "en";
  const both = (key: MessageKey) => (
    <>
      <span class="bilingual__main">{t(key)}</span>
      <span class="bilingual__other" lang={other}>{translate(other, key)}</span>
    </>
  );
  const playUrl = config?.playUrl ?? "";

  return (
    <div
      class={`board-app ${stale ? "board-app--stale" : ""} ${board?.frozen ? "board-app--frozen" : ""}`}
      ref={root}
      data-stale={stale ? "true" : "false"}
      data-frozen={board?.frozen ? "true" : "false"}
    >
      <header class="board-head">
        <div class="board-head__brand">
          <span class="logo" aria-hidden="true" />
          <h1 class="board-head__title">{event?.title ?? t("brand")}</h1>
        </div>
        <dl class="board-head__counts">
          <div class="count">
            <dd data-testid="participant-count">{count(participants, lang)}</dd>
            <dt>{t("board.players")}</dt>
          </div>
          <div class="count">
            <dd data-testid="submission-count">{count(drawings, lang)}</dd>
            <dt>{t("board.drawings")}</dt>
          </div>
        </dl>
        <div class="board-head__status">
          {event?.status === "CLOSED" ? <span class="flag flag--closed">{t("board.closed")}</span> : null}
          {board?.frozen ? (
            <span class="flag flag--frozen" data-testid="frozen" role="status">
              <span class="flag__icon" aria-hidden="true">❄</span>
              <span class="bilingual">{both("board.frozen")}</span>
            </span>
          ) : null}
          <ConnectionBadge live={live} staleAfterMs={STALE_AFTER_MS} behind={board?.stale === true} />
        </div>
      </header>

      {stale ? (
        <div class="stale-banner" role="alert">
          {t("board.stale", {
            time: clock(board?.stale ? board.lastUpdatedAt * 1000 : (link.lastHeardAt ?? link.since), lang),
          })}
        </div>
      ) : null}

      <aside class="board-side">
        <section class="panel target-panel">
          <h2 class="panel__title">{t("board.target")}</h2>
          <Picture class="target-panel__picture" src={event?.targetImageUrl} alt={t("board.target")} loading="eager" />
        </section>
        <section class="panel qr-panel">
          <Picture class="qr-panel__code" src="/api/qr.svg" alt={playUrl || t("board.scan")} loading="eager" />
          <div class="qr-panel__text">
            <p class="qr-panel__scan bilingual">{both("board.scan")}</p>
            <p class="qr-panel__url">{playUrl.replace(/^https?:\/\//, "")}</p>
          </div>
        </section>
      </aside>

      <main class={`board-main ${entries.length <= 3 ? "board-main--podium-only" : ""}`}>
        {entries.length === 0 ? (
          <div class="board-empty">
            <p class="bilingual">{both("board.empty")}</p>
            <p class="board-empty__how bilingual">{both("board.howTo")}</p>
          </div>
        ) : (
          <>
            <Podium entries={entries.slice(0, 3)} changes={fresh} />
            <Ranking entries={entries.slice(3)} changes={fresh} />
          </>
        )}
      </main>

      <footer class="board-latest">
        <h2 class="board-latest__title">{t("board.latest")}</h2>
        <LatestStrip drawings={board?.latest ?? []} />
      </footer>

      {celebration ? <Celebration celebration={celebration} /> : null}
    </div>
  );
}

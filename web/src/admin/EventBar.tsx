import { Picture } from "../components/Picture";
import { clock, count } from "../format";
import { useText } from "./text";
import type { Leaderboard, OrganiserEvent } from "../types";
import { onEvent } from "./actions";
import { useBusy } from "./feedback";
import { StatusBadge } from "./StatusBadge";

/**
 * The event the console works on, and the state of its public board, with the one
 * control an organiser needs in a hurry: freeze the board (or reveal it again).
 */
export function EventBar({
  event,
  live,
  onChange,
}: {
  event: OrganiserEvent;
  /** The live standings of this event, whose counts are fresher than the event's. */
  live: Leaderboard | null;
  onChange: (event: OrganiserEvent) => void;
}) {
  const { t, lang } = useText();
  const [busy, run] = useBusy();

  const toggleFreeze = () =>
    run("freeze", async () => {
      const changed = await onEvent(event.frozen ? "unfreezeLeaderboard" : "freezeLeaderboard", event);
      if (changed) onChange(changed);
    });

  return (
    <section class={`event-bar ${event.frozen ? "event-bar--frozen" : ""}`} aria-label={t("admin.selectedEvent")}>
      <Picture class="event-bar__target" src={event.targetImageUrl} alt={t("board.target")} loading="eager" />
      <div class="event-bar__facts">
        <p class="event-bar__title">
          <span data-testid="selected-event-title">{event.title}</span>
          {event.current ? (
            <span class="badge badge--current">{t("admin.current")}</span>
          ) : (
            <span class="badge badge--muted">{t("admin.notCurrent")}</span>
          )}
          <StatusBadge event={event} />
          {event.holdForReview ? <span class="badge badge--warn">{t("admin.holdForReview")}</span> : null}
        </p>
        <p class="event-bar__counts">
          {count(live?.participantCount ?? event.participantCount, lang)} {t("board.players")} ·{" "}
          {count(live?.submissionCount ?? event.submissionCount, lang)}{" "}
          {t("board.drawings")}
        </p>
      </div>
      <div class="event-bar__board" data-testid="public-board-state" data-frozen={event.frozen ? "true" : "false"}>
        <p class="event-bar__board-state">
          {event.frozen
            ? t("admin.boardFrozen", { time: event.frozenAt ? clock(event.frozenAt * 1000, lang) : "–" })
            : t("admin.boardLive")}
        </p>
        <button
          type="button"
          class={`button ${event.frozen ? "button--primary" : "button--freeze"}`}
          disabled={busy != null}
          onClick={toggleFreeze}
        >
          {event.frozen ? t("admin.unfreeze") : t("admin.freeze")}
        </button>
      </div>
      <p class="event-bar__links">
        <a href="/board" target="_blank" rel="noopener">{t("admin.openBoard")}</a>
        <a href="/play" target="_blank" rel="noopener">{t("admin.openPlay")}</a>
      </p>
    </section>
  );
}

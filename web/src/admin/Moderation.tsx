import { Picture } from "../components/Picture";
import { ago, percent } from "../format";
import { useText } from "./text";
import { useNow } from "../store";
import type { Leaderboard, LeaderboardEntry, ModeratedSubmission, OrganiserEvent, Player, PlayerFlags } from "../types";
import { approve, ban, hide, markStaff, unban, unhide } from "./actions";
import { organiserError, useBusy } from "./feedback";
import { playerByNickname } from "./organiser";
import { RevealPrompts } from "./RevealPrompts";
import { useModerationFeed, usePlayerFlags, useReviewQueue } from "./useModeration";

/**
 * The live moderation feed (every new drawing with its prompt, hidden ones too) beside
 * the live top entries, with Hide and Ban on each; drawings held for review on top.
 */
export function Moderation({
  event,
  top,
  onChange,
}: {
  event: OrganiserEvent;
  top: Leaderboard | null;
  onChange: (event: OrganiserEvent) => void;
}) {
  const { t } = useText();
  const { feed, patch, error } = useModerationFeed(event.id);
  const { flags, remember } = usePlayerFlags(feed?.map((s) => s.participantId) ?? []);
  const review = useReviewQueue(event.id, event.holdForReview, feed);
  const now = useNow(5_000);

  const onSubmission = (changed: ModeratedSubmission) => {
    patch(changed);
    if (changed.review !== "PENDING" || changed.hidden) review.drop(changed.id);
  };

  const card = (submission: ModeratedSubmission) => (
    <SubmissionCard
      key={submission.id}
      submission={submission}
      flags={flags.get(submission.participantId)}
      now={now}
      onSubmission={onSubmission}
      onPlayer={remember}
    />
  );

  return (
    <div class="mod-layout">
      <div class="mod-layout__feed">
        {event.holdForReview ? (
          <section class="panel review" aria-labelledby="review-title">
            <h2 class="panel__title" id="review-title">
              {t("admin.review")} <span class="panel__count">{review.queue.length}</span>
            </h2>
            <p class="panel__hint">{t("admin.reviewHint")}</p>
            {review.queue.length === 0 ? <p class="empty">{t("admin.reviewEmpty")}</p> : null}
            <ul class="moderation">{review.queue.map(card)}</ul>
          </section>
        ) : null}
        <section class="panel" aria-labelledby="feed-title">
          <h2 class="panel__title" id="feed-title">{t("admin.latest")}</h2>
          <p class="panel__hint">{t("admin.latestHint")}</p>
          {error ? <p class="note note--error" role="alert">{organiserError(error, t).text}</p> : null}
          {feed == null && !error ? <div class="skeleton skeleton--row" aria-busy="true" /> : null}
          {feed?.length === 0 ? <p class="empty">{t("admin.empty")}</p> : null}
          <ul class="moderation" data-testid="moderation-feed">{(feed ?? []).map(card)}</ul>
        </section>
      </div>
      <aside class="panel mod-layout__top" aria-labelledby="top-title">
        <h2 class="panel__title" id="top-title">{t("admin.top")}</h2>
        <p class="panel__hint">
          {!event.current ? t("admin.topHintNotCurrent") : event.frozen ? t("admin.topHintFrozen") : t("admin.topHint")}
        </p>
        {top == null ? <div class="skeleton skeleton--row" aria-busy="true" /> : null}
        {top?.submissions.length === 0 ? <p class="empty">{t("admin.topEmpty")}</p> : null}
        <ol class="top-list">
          {(top?.submissions ?? []).map((entry) => (
            <TopRow key={entry.id} entry={entry} eventId={event.id} />
          ))}
        </ol>
        <RevealPrompts event={event} onChange={onChange} />
      </aside>
    </div>
  );
}

interface CardProps {
  submission: ModeratedSubmission;
  flags: PlayerFlags | undefined;
  now: number;
  onSubmission: (changed: ModeratedSubmission) => void;
  onPlayer: (player: Player) => void;
}

function SubmissionCard({ submission: s, flags, now, onSubmission, onPlayer }: CardProps) {
  const { t } = useText();
  const [busy, run] = useBusy();
  const banned = flags?.banned ?? false;
  const staff = flags?.staff ?? false;

  const submissionAction = (key: string, action: typeof hide) =>
    run(key, async () => {
      const changed = await action(s);
      if (changed) onSubmission(changed);
    });
  const playerAction = (key: string, action: () => Promise<Player | null>) =>
    run(key, async () => {
      const player = await action();
      if (player) onPlayer(player);
    });

  const classes = [
    "mod-card",
    s.hidden ? "mod-card--hidden" : "",
    banned ? "mod-card--banned" : "",
    s.copied ? "mod-card--copy" : "",
  ];
  return (
    <li
      class={classes.join(" ")}
      data-id={s.id}
      data-hidden={s.hidden ? "true" : "false"}
      data-copied={s.copied ? "true" : "false"}
    >
      <Picture class="mod-card__picture" src={s.imageUrl} alt={s.prompt} />
      <div class="mod-card__body">
        <p class="mod-card__head">
          <span class="mod-card__name" title={s.nickname}>{s.nickname}</span>
          <span class="mod-card__score">{percent(s.score)}</span>
        </p>
        <p class="mod-card__prompt" title={s.prompt}>{s.prompt}</p>
        {s.copies.length > 0 ? <Copies copies={s.copies} /> : null}
        <p class="mod-card__badges">
          <span class="mod-card__time">{ago(s.createdAt * 1000, now, t)}</span>
          {s.status !== "DONE" ? <span class="badge badge--muted">{t(`admin.sub.${s.status}`)}</span> : null}
          {s.hidden ? <span class="badge badge--bad">{t("admin.hidden")}</span> : null}
          {s.review === "PENDING" ? <span class="badge badge--warn">{t("admin.pending")}</span> : null}
          {s.review === "APPROVED" ? <span class="badge badge--good">{t("admin.approved")}</span> : null}
          {banned ? <span class="badge badge--bad">{t("admin.banned")}</span> : null}
          {staff ? <span class="badge badge--muted">{t("admin.staff")}</span> : null}
          {s.copied ? (
            <span class="badge badge--warn" title={t("admin.copyHelp")}>{t("admin.copy")}</span>
          ) : s.deduplicated ? (
            <span class="badge badge--muted">{t("admin.duplicate")}</span>
          ) : null}
          <button
            type="button"
            class="button--link mod-card__staff"
            aria-pressed={staff}
            disabled={busy != null || flags == null}
            title={t("admin.staffHelp")}
            onClick={() => playerAction("staff", () => markStaff(s.participantId, s.nickname, !staff))}
          >
            {staff ? t("admin.unmarkStaff") : t("admin.markStaff")}
          </button>
        </p>
        <div class="mod-card__actions">
          {s.hidden ? (
            <button type="button" class="button button--action" disabled={busy != null} onClick={() => submissionAction("unhide", unhide)}>
              {t("admin.unhide")}
            </button>
          ) : (
            <button
              type="button"
              class="button button--action button--hide"
              disabled={busy != null}
              onClick={() => submissionAction("hide", hide)}
            >
              {t("admin.hide")}
            </button>
          )}
          {s.review === "PENDING" && !s.hidden ? (
            <button
              type="button"
              class="button button--action button--approve"
              disabled={busy != null}
              onClick={() => submissionAction("approve", approve)}
            >
              {t("admin.approve")}
            </button>
          ) : null}
          {banned ? (
            <button
              type="button"
              class="button button--action"
              disabled={busy != null}
              onClick={() => playerAction("unban", () => unban(s.participantId, s.nickname))}
            >
              {t("admin.unban")}
            </button>
          ) : (
            <button
              type="button"
              class="button button--action button--danger"
              disabled={busy != null}
              onClick={() => playerAction("ban", () => ban(s.participantId, s.nickname))}
            >
              {t("admin.ban")}
            </button>
          )}
        </div>
      </div>
    </li>
  );
}

/** Named in full up to this many; the rest are counted. */
const COPIES_NAMED = 5;

/** Who sent a first drawing's prompt again after its author (shown, never ranked). */
function Copies({ copies }: { copies: ModeratedSubmission["copies"] }) {
  const { t } = useText();
  const names = copies.slice(0, COPIES_NAMED).map((copy) => copy.nickname).join(", ");
  const more = copies.length - COPIES_NAMED;
  return (
    <p class="mod-card__copies" data-testid="copies">
      <span class="badge badge--warn">
        {copies.length === 1 ? t("admin.copies.one") : t("admin.copies.other", { n: copies.length })}
      </span>{" "}
      {t("admin.copiedBy", { names })}
      {more > 0 ? ` ${t("admin.copiesMore", { n: more })}` : ""}
    </p>
  );
}

/** One of the live top entries; the participant is looked up by nickname when needed. */
function TopRow({ entry, eventId }: { entry: LeaderboardEntry; eventId: string }) {
  const { t } = useText();
  const [busy, run] = useBusy();
  const participant = async () => (await playerByNickname(eventId, entry.name)).id;
  return (
    <li class="top-row" data-id={entry.id}>
      <span class="top-row__rank">#{entry.rank}</span>
      <Picture class="top-row__picture" src={entry.imageUrl} alt={entry.name} />
      <span class="top-row__name" title={entry.name}>{entry.name}</span>
      <span class="top-row__score">{percent(entry.score)}</span>
      <span class="top-row__actions">
        <button
          type="button"
          class="button button--small button--hide"
          disabled={busy != null}
          onClick={() => run("hide", () => hide({ id: entry.id, nickname: entry.name }))}
        >
          {t("admin.hide")}
        </button>
        <button
          type="button"
          class="button button--small button--quiet"
          disabled={busy != null}
          title={t("admin.staffHelp")}
          onClick={() => run("staff", () => markStaff(participant, entry.name, true))}
        >
          {t("admin.markStaff")}
        </button>
        <button
          type="button"
          class="button button--small button--danger"
          disabled={busy != null}
          onClick={() => run("ban", () => ban(participant, entry.name))}
        >
          {t("admin.ban")}
        </button>
      </span>
    </li>
  );
}

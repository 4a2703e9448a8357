import { useEffect, useState } from "preact/hooks";
import { asApiError, type ApiError } from "../api";
import { count, dateTime, percent } from "../format";
import { useText } from "./text";
import { CLAIM, PARTICIPANTS } from "../operations";
import type { OrganiserEvent, Player } from "../types";
import { ban, markStaff, unban } from "./actions";
import { normaliseClaimCode } from "./claim";
import { organiserError, useBusy } from "./feedback";
import { call } from "./organiser";

/**
 * Who is who: the claim code a winner shows on their phone → the participant, and a
 * search over everyone in the event, with staff and ban controls.
 */
export function Players({ event }: { event: OrganiserEvent }) {
  return (
    <div class="players-layout">
      <ClaimLookup event={event} />
      <Search event={event} />
    </div>
  );
}

function ClaimLookup({ event }: { event: OrganiserEvent }) {
  const { t } = useText();
  const [code, setCode] = useState("");
  const [asked, setAsked] = useState<string | null>(null);
  const [player, setPlayer] = useState<Player | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, run] = useBusy();

  const submit = (e: Event) => {
    e.preventDefault();
    const wanted = normaliseClaimCode(code);
    if (!wanted) return;
    void run("claim", async () => {
      setError(null);
      try {
        const data = await call<{ claim: Player | null }>(CLAIM, { code: wanted, eventId: event.id });
        setPlayer(data.claim);
        setAsked(wanted);
      } catch (caught) {
        setError(asApiError(caught));
        setPlayer(null);
        setAsked(null);
      }
    });
  };

  return (
    <section class="panel claim" aria-labelledby="claim-title">
      <h2 class="panel__title" id="claim-title">{t("admin.claim")}</h2>
      <p class="panel__hint">{t("admin.claimHint")}</p>
      <form class="claim__form" onSubmit={submit}>
        <label class="field claim__field">
          <span class="field__label">{t("admin.claimCode")}</span>
          <input
            class="field__input claim__input"
            type="text"
            name="claimCode"
            autocomplete="off"
            autocapitalize="characters"
            spellcheck={false}
            maxLength={16}
            placeholder="K7P2QX"
            value={code}
            onInput={(e) => setCode(e.currentTarget.value)}
          />
        </label>
        <button type="submit" class="button button--primary button--big" disabled={busy != null || !normaliseClaimCode(code)}>
          {t("admin.find")}
        </button>
      </form>
      {error ? <p class="note note--error" role="alert">{organiserError(error, t).text}</p> : null}
      {asked && !player ? (
        <p class="note note--error" role="alert" data-testid="claim-none">
          {t("admin.claimNone", { code: asked, title: event.title })}
        </p>
      ) : null}
      {player ? (
        <div class="claim__result" data-testid="claim-result">
          <PlayerCard player={player} onChange={setPlayer} />
        </div>
      ) : null}
    </section>
  );
}

function Search({ event }: { event: OrganiserEvent }) {
  const { t } = useText();
  const [search, setSearch] = useState("");
  const [players, setPlayers] = useState<Player[] | null>(null);
  const [error, setError] = useState<ApiError | null>(null);

  useEffect(() => {
    let cancelled = false;
    const timer = setTimeout(() => {
      call<{ participants: Player[] }>(PARTICIPANTS, { eventId: event.id, search: search.trim(), first: 100 }).then(
        (data) => {
          if (cancelled) return;
          setPlayers(data.participants);
          setError(null);
        },
        (caught: unknown) => !cancelled && setError(asApiError(caught)),
      );
    }, 250);
    return () => {
      cancelled = true;
      clearTimeout(timer);
    };
  }, [event.id, search]);

  const replace = (changed: Player) => setPlayers((list) => list?.map((p) => (p.id === changed.id ? changed : p)) ?? list);

  return (
    <section class="panel" aria-labelledby="players-title">
      <h2 class="panel__title" id="players-title">{t("admin.players")}</h2>
      <label class="field">
        <span class="field__label">{t("admin.search")}</span>
        <input
          class="field__input"
          type="search"
          name="search"
          placeholder={t("admin.searchPlaceholder")}
          value={search}
          onInput={(e) => setSearch(e.currentTarget.value)}
        />
      </label>
      {error ? <p class="note note--error" role="alert">{organiserError(error, t).text}</p> : null}
      {players?.length === 0 ? <p class="empty">{t("admin.noPlayers")}</p> : null}
      <ul class="player-list">
        {(players ?? []).map((player) => (
          <li key={player.id}>
            <PlayerCard player={player} onChange={replace} compact />
          </li>
        ))}
      </ul>
      {players && players.length >= 100 ? <p class="field__help">{t("admin.searchMore")}</p> : null}
    </section>
  );
}

/** A participant's facts with staff and ban controls. */
export function PlayerCard({ player, onChange, compact = false }: { player: Player; onChange: (p: Player) => void; compact?: boolean }) {
  const { t, lang } = useText();
  const [busy, run] = useBusy();
  const act = (key: string, action: () => Promise<Player | null>) =>
    run(key, async () => {
      const changed = await action();
      if (changed) onChange(changed);
    });
  return (
    <div class={`player ${compact ? "player--compact" : ""} ${player.banned ? "player--banned" : ""}`} data-player-id={player.id}>
      <p class="player__name" data-testid="player-name">{player.nickname}</p>
      <dl class="player__facts">
        <div>
          <dt>{t("me.rank")}</dt>
          <dd>{player.rank != null ? `#${player.rank}` : "–"}</dd>
        </div>
        <div>
          <dt>{t("me.best")}</dt>
          <dd>{percent(player.bestScore)}</dd>
        </div>
        <div>
          <dt>{t("me.drawings")}</dt>
          <dd>{count(player.submissionCount, lang)}</dd>
        </div>
        <div>
          <dt>{t("admin.claimCode")}</dt>
          <dd class="player__code">{player.claimCode}</dd>
        </div>
        {compact ? null : (
          <div>
            <dt>{t("admin.joined")}</dt>
            <dd>{dateTime(player.createdAt * 1000, lang)}</dd>
          </div>
        )}
      </dl>
      <p class="player__badges">
        {player.banned ? <span class="badge badge--bad">{t("admin.banned")}</span> : null}
        {player.staff ? <span class="badge badge--muted">{t("admin.staff")}</span> : null}
      </p>
      <div class="player__actions">
        <button
          type="button"
          class="button button--small button--quiet"
          aria-pressed={player.staff}
          title={t("admin.staffHelp")}
          disabled={busy != null}
          onClick={() => act("staff", () => markStaff(player.id, player.nickname, !player.staff))}
        >
          {player.staff ? t("admin.unmarkStaff") : t("admin.markStaff")}
        </button>
        {player.banned ? (
          <button type="button" class="button button--small" disabled={busy != null} onClick={() => act("unban", () => unban(player.id, player.nickname))}>
            {t("admin.unban")}
          </button>
        ) : (
          <button
            type="button"
            class="button button--small button--danger"
            disabled={busy != null}
            onClick={() => act("ban", () => ban(player.id, player.nickname))}
          >
            {t("admin.ban")}
          </button>
        )}
      </div>
    </div>
  );
}

import { useEffect, useState } from "preact/hooks";
import { dateTime, percent } from "../format";
import { useText } from "./text";
import { DRAW_RAFFLE, PREPARE_RAFFLE, RAFFLES, REDRAW_RAFFLE } from "../operations";
import type { OrganiserEvent, Raffle as RaffleData, RaffleCandidate } from "../types";
import { act, ask, useBusy } from "./feedback";
import { call } from "./organiser";

/**
 * A raffle anyone can re-run: prepare (candidates and seed fixed, and the seed shown
 * before anything is drawn), draw, and redraw when winners are not there to collect.
 */
export function Raffle({ event }: { event: OrganiserEvent }) {
  const { t, lang } = useText();
  const [raffles, setRaffles] = useState<RaffleData[]>([]);
  const [shownId, setShownId] = useState<string | null>(null);

  useEffect(() => {
    call<{ raffles: RaffleData[] }>(RAFFLES, { eventId: event.id })
      .then((data) => setRaffles(data.raffles))
      .catch(() => undefined);
  }, [event.id]);

  const take = (raffle: RaffleData) => {
    setRaffles((list) => (list.some((r) => r.id === raffle.id) ? list.map((r) => (r.id === raffle.id ? raffle : r)) : [...list, raffle]));
    setShownId(raffle.id);
  };

  const shown = raffles.find((r) => r.id === shownId) ?? null;
  const earlier = [...raffles].reverse().filter((r) => r.id !== shownId);

  return (
    <div class="raffle-layout">
      <div>
        <PrepareForm eventId={event.id} onPrepared={take} />
        {earlier.length ? (
          <section class="panel" aria-labelledby="raffles-title">
            <h2 class="panel__title" id="raffles-title">{t("admin.raffles")}</h2>
            <ul class="raffle-history">
              {earlier.map((r) => (
                <li key={r.id}>
                  <button type="button" class="raffle-history__item" onClick={() => setShownId(r.id)}>
                    <span>{dateTime(r.createdAt * 1000, lang)}</span>
                    <span>{t("admin.raffleSummary", { count: r.count, seed: r.seed })}</span>
                    <span class={`badge ${r.status === "DRAWN" ? "badge--good" : "badge--warn"}`}>
                      {r.status === "DRAWN" ? t("admin.drawn") : t("admin.prepared")}
                    </span>
                  </button>
                </li>
              ))}
            </ul>
          </section>
        ) : null}
      </div>
      {shown ? <RaffleView raffle={shown} onChange={take} /> : null}
    </div>
  );
}

function PrepareForm({ eventId, onPrepared }: { eventId: string; onPrepared: (r: RaffleData) => void }) {
  const { t } = useText();
  const [count, setCount] = useState("1");
  const [top, setTop] = useState("10");
  const [seed, setSeed] = useState("");
  const [busy, run] = useBusy();
  const winners = Number(count);
  const topN = top.trim() ? Number(top) : null;
  const valid = Number.isInteger(winners) && winners >= 1 && (topN == null || (Number.isInteger(topN) && topN >= winners));

  const submit = (e: Event) => {
    e.preventDefault();
    if (!valid) return;
    void run("prepare", async () => {
      const raffle = await act(
        async () =>
          (
            await call<{ prepareRaffle: RaffleData }>(PREPARE_RAFFLE, {
              eventId,
              count: winners,
              top: topN,
              seed: seed.trim() || null,
            })
          ).prepareRaffle,
        () => t("admin.done.prepared"),
      );
      if (raffle) onPrepared(raffle);
    });
  };

  return (
    <form class="panel raffle-form" onSubmit={submit} aria-labelledby="prepare-title">
      <h2 class="panel__title" id="prepare-title">{t("admin.raffle")}</h2>
      <p class="panel__hint">{t("admin.raffleHint")}</p>
      <div class="field-row">
        <label class="field">
          <span class="field__label">{t("admin.winners")}</span>
          <input class="field__input" type="number" name="count" min={1} step={1} value={count} onInput={(e) => setCount(e.currentTarget.value)} />
        </label>
        <label class="field">
          <span class="field__label">{t("admin.fromTop")}</span>
          <input
            class="field__input"
            type="number"
            name="top"
            min={1}
            step={1}
            placeholder={t("admin.everyone")}
            value={top}
            onInput={(e) => setTop(e.currentTarget.value)}
          />
        </label>
      </div>
      <span class="field__help">{t("admin.fromTopHelp")}</span>
      <label class="field">
        <span class="field__label">{t("admin.seed")}</span>
        <input
          class="field__input"
          type="text"
          name="seed"
          maxLength={100}
          placeholder={t("admin.seedPlaceholder")}
          value={seed}
          onInput={(e) => setSeed(e.currentTarget.value)}
        />
        <span class="field__help">{t("admin.seedHelp")}</span>
      </label>
      {!valid ? <p class="note note--error">{t("admin.raffleInvalid")}</p> : null}
      <button type="submit" class="button button--primary" disabled={busy != null || !valid}>
        {t("admin.prepare")}
      </button>
    </form>
  );
}

function RaffleView({ raffle, onChange }: { raffle: RaffleData; onChange: (r: RaffleData) => void }) {
  const { t, lang } = useText();
  const [busy, run] = useBusy();
  const [absent, setAbsent] = useState<ReadonlySet<string>>(new Set());
  const drawn = raffle.status === "DRAWN";
  const struck = new Set(raffle.absent);
  const byId = new Map(raffle.candidates.map((c) => [c.participantId, c]));

  useEffect(() => setAbsent(new Set()), [raffle.id, raffle.drawnAt]);

  const draw = () =>
    run("draw", async () => {
      const answer = await ask({
        title: t("admin.draw.title", { count: raffle.count }),
        body: t("admin.draw.body", { seed: raffle.seed }),
        confirm: t("admin.draw.confirm"),
      });
      if (!answer) return;
      const result = await act(async () => (await call<{ drawRaffle: RaffleData }>(DRAW_RAFFLE, { id: raffle.id })).drawRaffle, () => t("admin.done.drawn"));
      if (result) onChange(result);
    });

  const redraw = () =>
    run("redraw", async () => {
      const names = raffle.winners.filter((w) => absent.has(w.participantId)).map((w) => w.nickname);
      const answer = await ask({
        title: t("admin.redraw.title"),
        body: t("admin.redraw.body", { names: names.join(", ") }),
        confirm: t("admin.redraw.confirm"),
      });
      if (!answer) return;
      const result = await act(
        async () => (await call<{ redrawRaffle: RaffleData }>(REDRAW_RAFFLE, { id: raffle.id, absent: [...absent] })).redrawRaffle,
        () => t("admin.done.redrawn"),
      );
      if (result) onChange(result);
    });

  return (
    <section class="panel raffle" aria-labelledby="raffle-title" data-status={raffle.status}>
      <h2 class="panel__title" id="raffle-title">
        {drawn ? t("admin.raffleDrawn") : t("admin.rafflePrepared")}
      </h2>
      <div class="raffle__seed">
        <span class="raffle__seed-label">{t("admin.seed")}</span>
        <code class="raffle__seed-value" data-testid="raffle-seed">{raffle.seed}</code>
        <p class="raffle__seed-help">{drawn ? t("admin.seedDrawnHelp") : t("admin.seedShowHelp")}</p>
      </div>
      <p class="raffle__terms">
        {raffle.top != null
          ? t("admin.raffleTermsTop", { count: raffle.count, candidates: raffle.candidates.length, top: raffle.top })
          : t("admin.raffleTermsAll", { count: raffle.count, candidates: raffle.candidates.length })}
      </p>

      {drawn ? (
        <>
          <h3 class="raffle__subtitle">{t("admin.winnersTitle")}</h3>
          <ol class="raffle__winners" data-testid="raffle-winners">
            {raffle.winners.map((w) => (
              <li key={w.participantId} class="winner">
                <span class="winner__name">{w.nickname}</span>
                <span class="winner__meta">
                  #{w.rank} · {percent(w.score)}
                </span>
                <label class="check check--inline">
                  <input
                    type="checkbox"
                    checked={absent.has(w.participantId)}
                    onChange={(e) => {
                      const on = e.currentTarget.checked;
                      setAbsent((set) => {
                        const next = new Set(set);
                        if (on) next.add(w.participantId);
                        else next.delete(w.participantId);
                        return next;
                      });
                    }}
                  />
                  <span>{t("admin.absent")}</span>
                </label>
              </li>
            ))}
          </ol>
          {raffle.absent.length ? (
            <p class="raffle__struck">
              {t("admin.struckOut")}{" "}
              {raffle.absent.map((id) => byId.get(id)?.nickname ?? id).join(", ")}
            </p>
          ) : null}
          <div class="raffle__actions">
            <button type="button" class="button" disabled={busy != null || absent.size === 0} onClick={redraw}>
              {t("admin.redraw")}
            </button>
            {raffle.drawnAt ? <span class="field__help">{t("admin.drawnAt", { time: dateTime(raffle.drawnAt * 1000, lang) })}</span> : null}
          </div>
        </>
      ) : (
        <div class="raffle__actions">
          <button type="button" class="button button--primary button--big" disabled={busy != null} onClick={draw}>
            {t("admin.drawNow")}
          </button>
        </div>
      )}

      <details class="raffle__details">
        <summary>{t("admin.candidates", { n: raffle.candidates.length })}</summary>
        <table class="table">
          <thead>
            <tr>
              <th>{t("me.rank")}</th>
              <th>{t("join.nickname")}</th>
              <th>{t("me.best")}</th>
              <th>{t("admin.ticket")}</th>
            </tr>
          </thead>
          <tbody>
            {raffle.candidates.map((c: RaffleCandidate) => (
              <tr key={c.participantId} class={struck.has(c.participantId) ? "struck" : ""}>
                <td>#{c.rank}</td>
                <td>{c.nickname}</td>
                <td>{percent(c.score)}</td>
                <td>
                  <code>{c.ticket.slice(0, 12)}…</code>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        <p class="field__help">{raffle.algorithm}</p>
      </details>
    </section>
  );
}

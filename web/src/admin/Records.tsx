import { useCallback, useEffect, useState } from "preact/hooks";
import { asApiError, type ApiError } from "../api";
import { dateTime } from "../format";
import { useText } from "./text";
import { AUDIT_LOG } from "../operations";
import type { AuditEntry, OrganiserEvent } from "../types";
import { describeChange } from "./audit";
import { auditUrl, drawingsUrl, submissionsUrl, winnersUrl } from "./exports";
import { organiserError } from "./feedback";
import { call } from "./organiser";

const PAGE = 50;

/** The winners and submissions to download, and the audit log of who did what. */
export function Records({ event }: { event: OrganiserEvent }) {
  const { t } = useText();
  const [top, setTop] = useState("10");
  const topN = Number(top);
  const limit = top.trim() && Number.isInteger(topN) && topN > 0 ? topN : null;
  return (
    <div class="records-layout">
      <section class="panel exports" aria-labelledby="exports-title">
        <h2 class="panel__title" id="exports-title">{t("admin.exports")}</h2>
        <p class="panel__hint">{t("admin.exportsHint", { title: event.title })}</p>
        <div class="export">
          <h3 class="export__title">{t("admin.exportWinners")}</h3>
          <label class="field field--inline">
            <span class="field__label">{t("admin.fromTop")}</span>
            <input
              class="field__input field__input--narrow"
              type="number"
              min={1}
              placeholder={t("admin.everyone")}
              value={top}
              onInput={(e) => setTop(e.currentTarget.value)}
            />
          </label>
          <p class="export__links">
            <a class="button button--primary" href={winnersUrl(event.id, "csv", limit)} download data-testid="winners-csv">
              {t("admin.winnersCsv")}
            </a>
            <a class="button" href={winnersUrl(event.id, "json", limit)} download>
              {t("admin.winnersJson")}
            </a>
          </p>
          <p class="field__help">{t("admin.winnersHelp")}</p>
        </div>
        <div class="export">
          <h3 class="export__title">{t("admin.exportSubmissions")}</h3>
          <p class="export__links">
            <a class="button" href={submissionsUrl(event.id, "csv")} download>CSV</a>
            <a class="button" href={submissionsUrl(event.id, "json")} download>JSON</a>
          </p>
          <p class="field__help">{t("admin.submissionsHelp")}</p>
        </div>
        <div class="export">
          <h3 class="export__title">{t("admin.exportDrawings")}</h3>
          <p class="export__links">
            <a class="button" href={drawingsUrl(event.id)} download data-testid="drawings-zip">
              {t("admin.drawingsZip")}
            </a>
          </p>
          <p class="field__help">{t("admin.drawingsHelp")}</p>
        </div>
        <div class="export">
          <h3 class="export__title">{t("admin.exportAudit")}</h3>
          <p class="export__links">
            <a class="button" href={auditUrl("csv", event.id)} download>{t("admin.auditThisEvent")} CSV</a>
            <a class="button" href={auditUrl("json", event.id)} download>{t("admin.auditThisEvent")} JSON</a>
            <a class="button" href={auditUrl("csv")} download>{t("admin.auditAll")} CSV</a>
          </p>
        </div>
      </section>
      <AuditLog event={event} />
    </div>
  );
}

function AuditLog({ event }: { event: OrganiserEvent }) {
  const { t, lang } = useText();
  const [everything, setEverything] = useState(false);
  const eventId = everything ? null : event.id;
  const [entries, setEntries] = useState<AuditEntry[] | null>(null);
  const [more, setMore] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const [loading, setLoading] = useState(false);

  const load = useCallback(
    async (before: string | null) => {
      setLoading(true);
      try {
        const data = await call<{ auditLog: AuditEntry[] }>(AUDIT_LOG, { eventId, first: PAGE, before });
        setEntries((list) => (before && list ? [...list, ...data.auditLog] : data.auditLog));
        setMore(data.auditLog.length === PAGE);
        setError(null);
      } catch (caught) {
        setError(asApiError(caught));
      } finally {
        setLoading(false);
      }
    },
    [eventId],
  );

  useEffect(() => void load(null), [load]);

  return (
    <section class="panel audit" aria-labelledby="audit-title">
      <div class="panel__bar">
        <h2 class="panel__title" id="audit-title">{t("admin.audit")}</h2>
        <span class="panel__tools">
          <select
            class="field__input--select"
            aria-label={t("admin.auditScope")}
            value={everything ? "all" : "event"}
            onChange={(e) => setEverything(e.currentTarget.value === "all")}
          >
            <option value="event">{t("admin.auditThisEvent")}</option>
            <option value="all">{t("admin.auditAll")}</option>
          </select>
          <button type="button" class="button button--small" disabled={loading} onClick={() => void load(null)}>
            {t("admin.refresh")}
          </button>
        </span>
      </div>
      <p class="panel__hint">{t("admin.auditHint")}</p>
      {error ? <p class="note note--error" role="alert">{organiserError(error, t).text}</p> : null}
      {entries?.length === 0 ? <p class="empty">{t("admin.auditEmpty")}</p> : null}
      {entries?.length ? (
        <div class="table-wrap">
          <table class="table audit__table">
            <thead>
              <tr>
                <th>{t("admin.when")}</th>
                <th>{t("admin.who")}</th>
                <th>{t("admin.action")}</th>
                <th>{t("admin.auditTarget")}</th>
                <th>{t("admin.change")}</th>
              </tr>
            </thead>
            <tbody>
              {entries.map((entry) => (
                <tr key={entry.id}>
                  <td class="nowrap">{dateTime(entry.at * 1000, lang)}</td>
                  <td>
                    {entry.who}
                    <small class="audit__source">{entry.source}</small>
                  </td>
                  <td>
                    <code>{entry.action}</code>
                  </td>
                  <td>
                    <code class="audit__id" title={entry.target}>{entry.target.slice(-12)}</code>
                  </td>
                  <td class="audit__change" title={describeChange(entry.before, entry.after)}>
                    {shorten(describeChange(entry.before, entry.after), 160)}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      {more ? (
        <button
          type="button"
          class="button button--small"
          disabled={loading}
          onClick={() => void load(entries?.[entries.length - 1]?.id ?? null)}
        >
          {t("admin.older")}
        </button>
      ) : null}
    </section>
  );
}

function shorten(text: string, most: number): string {
  return text.length > most ? `${text.slice(0, most - 1)}…` : text;
}

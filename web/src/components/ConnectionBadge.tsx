import type { Live } from "../live";
import { useNow, useStore } from "../store";
import { ago } from "../format";
import { useI18n } from "../i18n";

/**
 * "Live", or "Reconnecting… · last update 2 min ago": a screen never shows old
 * data without saying so.
 */
export function ConnectionBadge({
  live,
  staleAfterMs = 0,
  behind = false,
}: {
  live: Live;
  staleAfterMs?: number;
  /** Connected, but the server says what it sends is the last known state. */
  behind?: boolean;
}) {
  const { t } = useI18n();
  const state = useStore(live.state);
  const now = useNow(1000);
  const down = state.status !== "live" || behind;
  const lastHeard = state.lastHeardAt;
  const stale = down && now - state.since >= staleAfterMs;
  const status = behind && state.status === "live" ? "reconnecting" : state.status;
  const label =
    status === "live" ? t("conn.live") : status === "connecting" ? t("conn.connecting") : t("conn.reconnecting");
  return (
    <div class={`conn conn--${status} ${stale ? "conn--stale" : ""}`} role="status" aria-live="polite" data-status={status}>
      <span class="conn__dot" aria-hidden="true" />
      <span class="conn__label">{label}</span>
      {down && lastHeard != null ? (
        <span class="conn__ago">· {t("conn.lastUpdate", { ago: ago(lastHeard, now, t) })}</span>
      ) : null}
    </div>
  );
}

import type { Live } from "../live";
import { useNow, useStore } from "../store";
import { ago } from "../format";
import { useI18n } from "../i18n";

/**
 * "Live", or "Reconnecting… · last update 2 min ago": a screen never shows old
 * data without saying so.
 */
export function ConnectionBadge({ live, staleAfterMs = 0 }: { live: Live; staleAfterMs?: number }) {
  const { t } = useI18n();
  const state = useStore(live.state);
  const now = useNow(1000);
  const down = state.status !== "live";
  const lastHeard = state.lastHeardAt;
  const stale = down && now - state.since >= staleAfterMs;
  const label =
    state.status === "live" ? t("conn.live") : state.status === "connecting" ? t("conn.connecting") : t("conn.reconnecting");
  return (
    <div
      class={`conn conn--${state.status} ${stale ? "conn--stale" : ""}`}
      role="status"
      aria-live="polite"
      data-status={state.status}
    >
      <span class="conn__dot" aria-hidden="true" />
      <span class="conn__label">{label}</span>
      {down && lastHeard != null ? (
        <span class="conn__ago">· {t("conn.lastUpdate", { ago: ago(lastHeard, now, t) })}</span>
      ) : null}
    </div>
  );
}

import { dateTime } from "../format";
import { useText } from "./text";
import type { OrganiserEvent } from "../types";

/** Open, closed, or scheduled (with the opening time). */
export function StatusBadge({ event }: { event: Pick<OrganiserEvent, "status" | "opensAt"> }) {
  const { t, lang } = useText();
  if (event.status === "OPEN") return <span class="badge badge--good">{t("admin.status.OPEN")}</span>;
  if (event.status === "CLOSED") return <span class="badge badge--bad">{t("admin.status.CLOSED")}</span>;
  return (
    <span class="badge badge--warn">
      {t("admin.status.SCHEDULED")}
      {event.opensAt ? ` · ${dateTime(event.opensAt * 1000, lang)}` : ""}
    </span>
  );
}

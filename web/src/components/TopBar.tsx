import { useI18n } from "../i18n";
import { LangToggle } from "./LangToggle";

/** The phone-sized pages' sticky bar: the event's title and the language switch. */
export function TopBar({ title }: { title: string | undefined }) {
  const { t } = useI18n();
  return (
    <header class="topbar">
      <div class="topbar__brand">
        <span class="logo" aria-hidden="true" />
        <span class="topbar__title">{title || t("brand")}</span>
      </div>
      <LangToggle />
    </header>
  );
}

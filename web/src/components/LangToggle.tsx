import { setLang, useI18n } from "../i18n";

/** One button that flips between Korean and English. */
export function LangToggle() {
  const { lang, t } = useI18n();
  return (
    <button
      type="button"
      class="lang-toggle"
      lang={lang === "en" ? "ko" : "en"}
      aria-label={t("lang.switchLabel")}
      onClick={() => setLang(lang === "en" ? "ko" : "en")}
    >
      {t("lang.switch")}
    </button>
  );
}

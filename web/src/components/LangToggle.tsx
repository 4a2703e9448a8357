import { setLang, useI18n } from "../i18n";

/** One button that flips between Korean and English. */
export function LangToggle() {
  const { lang, t } = useI18n();
  return (
    <button
      type="button"
      class="lang-toggle"
      lang={lang === "en" ? "ko" : "en"}
      // The name starts with the text shown, so speech control ("click 한국어") finds it.
      aria-label={`${t("lang.switch")}: ${t("lang.switchLabel")}`}
      onClick={() => setLang(lang === "en" ? "ko" : "en")}
    >
      {t("lang.switch")}
    </button>
  );
}

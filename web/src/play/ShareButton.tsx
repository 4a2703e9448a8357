import { useState } from "preact/hooks";
import { useI18n } from "../i18n";
import { drawShareCard, saveFile, type ShareCard } from "./shareCard";

/** Saves the share card of the drawing shown as a PNG. */
export function ShareButton({ card, name }: { card: ShareCard; name: string }) {
  const { t } = useI18n();
  const [state, setState] = useState<"idle" | "saving" | "failed">("idle");

  async function save() {
    setState("saving");
    try {
      saveFile(await drawShareCard(card), name);
      setState("idle");
    } catch {
      setState("failed");
    }
  }

  return (
    <div class="share">
      <button class="button share__button" type="button" onClick={save} disabled={state === "saving"}>
        {state === "saving" ? <span class="spinner" aria-hidden="true" /> : null}
        {state === "saving" ? t("share.saving") : t("share.save")}
      </button>
      {state === "failed" ? <p class="note note--error" role="alert">{t("share.failed")}</p> : null}
    </div>
  );
}

import { useState } from "preact/hooks";
import { asApiError, type ApiError } from "../api";
import { Picture } from "../components/Picture";
import { errorMessage } from "../errors";
import { percent } from "../format";
import { translate, useI18n, type MessageKey } from "../i18n";
import type { Drawing } from "../types";
import { moderate, type Capabilities } from "./organiser";

interface Props {
  title: MessageKey;
  hint?: MessageKey;
  drawings: Drawing[];
  capabilities: Capabilities | null;
  canAct: boolean;
  onAuthLost: () => void;
}

type Action = "hideSubmission" | "banParticipant";

/** Drawings (the live feed, or the top entries) with Hide and Ban on each. */
export function Moderation({ title, hint, drawings, capabilities, canAct, onAuthLost }: Props) {
  const { t, lang } = useI18n();
  const [hidden, setHidden] = useState<ReadonlySet<string>>(new Set());
  const [banned, setBanned] = useState<ReadonlySet<string>>(new Set());
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<ApiError | null>(null);

  async function act(action: Action, drawing: Drawing) {
    const target = action === "hideSubmission" ? drawing.id : drawing.participantId;
    if (!target || !capabilities) return;
    if (action === "banParticipant" && !confirm(translate(lang, "admin.confirmBan", { name: drawing.name }))) return;
    setBusy(`${action}:${drawing.id}`);
    setError(null);
    try {
      await moderate(action, target, capabilities[action]);
      if (action === "hideSubmission") setHidden((s) => new Set(s).add(drawing.id));
      else setBanned((s) => new Set(s).add(target));
    } catch (caught) {
      const apiError = asApiError(caught);
      if (apiError.code === "UNAUTHENTICATED" || apiError.code === "FORBIDDEN") onAuthLost();
      setError(apiError);
    } finally {
      setBusy(null);
    }
  }

  const unavailable = (action: Action) => !capabilities || capabilities[action] === "missing";

  return (
    <section class="panel">
      <h2 class="panel__title">{t(title)}</h2>
      {hint ? <p class="panel__hint">{t(hint)}</p> : null}
      {error ? <p class="note note--error" role="alert">{errorMessage(error, t)}</p> : null}
      {drawings.length === 0 ? <p class="empty">{t("admin.empty")}</p> : null}
      <ul class="moderation">
        {drawings.map((drawing) => {
          const isHidden = hidden.has(drawing.id);
          const isBanned = drawing.participantId != null && banned.has(drawing.participantId);
          return (
            <li key={drawing.id} class={`mod-card ${isHidden ? "mod-card--hidden" : ""}`} data-id={drawing.id}>
              <Picture class="mod-card__picture" src={drawing.imageUrl} alt={drawing.name} />
              <div class="mod-card__body">
                <p class="mod-card__name">{drawing.name}</p>
                <p class="mod-card__score">{percent(drawing.score)}</p>
                <p class="mod-card__prompt">{drawing.prompt ?? t("admin.promptMissing")}</p>
                <div class="mod-card__actions">
                  <button
                    type="button"
                    class="button button--small"
                    disabled={!canAct || isHidden || unavailable("hideSubmission") || busy != null}
                    title={unavailable("hideSubmission") ? t("admin.unavailable") : undefined}
                    onClick={() => act("hideSubmission", drawing)}
                  >
                    {isHidden ? t("admin.hidden") : t("admin.hide")}
                  </button>
                  <button
                    type="button"
                    class="button button--small button--danger"
                    disabled={!canAct || isBanned || unavailable("banParticipant") || !drawing.participantId || busy != null}
                    title={
                      unavailable("banParticipant")
                        ? t("admin.unavailable")
                        : !drawing.participantId
                          ? t("admin.noParticipant")
                          : undefined
                    }
                    onClick={() => act("banParticipant", drawing)}
                  >
                    {isBanned ? t("admin.banned") : t("admin.ban")}
                  </button>
                </div>
              </div>
            </li>
          );
        })}
      </ul>
    </section>
  );
}

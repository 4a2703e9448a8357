import { useState } from "preact/hooks";
import type { OrganiserEvent } from "../types";
import { revealPrompts } from "./actions";
import { useBusy } from "./feedback";
import { useText } from "./text";

/** The most entries whose prompts can be revealed (LOOKALIKE_LEADERBOARD_MAX_FIRST by default). */
const REVEAL_MAX = 100;

/**
 * The closing moment: every big screen shows the prompts of the best entries under
 * their names; "Take back" makes them private again.
 */
export function RevealPrompts({ event, onChange }: { event: OrganiserEvent; onChange: (event: OrganiserEvent) => void }) {
  const { t } = useText();
  const [top, setTop] = useState("10");
  const [busy, run] = useBusy();
  const count = Number(top);
  const valid = Number.isInteger(count) && count >= 1 && count <= REVEAL_MAX;

  const reveal = (n: number) =>
    run(n ? "reveal" : "takeBack", async () => {
      const changed = await revealPrompts(event, n);
      if (changed) onChange(changed);
    });

  return (
    <form
      class="reveal"
      aria-labelledby="reveal-title"
      data-testid="reveal-prompts"
      data-revealed={event.promptsRevealed ? "true" : "false"}
      onSubmit={(e) => {
        e.preventDefault();
        if (valid) void reveal(count);
      }}
    >
      <h3 class="reveal__title" id="reveal-title">{t("admin.reveal")}</h3>
      <p class="reveal__state">{event.promptsRevealed ? t("admin.reveal.shown") : t("admin.reveal.private")}</p>
      <div class="reveal__controls">
        <label class="field field--inline">
          <span class="field__label">{t("admin.reveal.top")}</span>
          <input
            class="field__input field__input--narrow"
            type="number"
            name="revealTop"
            min={1}
            max={REVEAL_MAX}
            step={1}
            value={top}
            onInput={(e) => setTop(e.currentTarget.value)}
          />
        </label>
        <button type="submit" class="button button--small button--primary" disabled={busy != null || !valid}>
          {t("admin.reveal")}
        </button>
        {event.promptsRevealed ? (
          <button type="button" class="button button--small" disabled={busy != null} onClick={() => void reveal(0)}>
            {t("admin.reveal.takeBack")}
          </button>
        ) : null}
      </div>
    </form>
  );
}

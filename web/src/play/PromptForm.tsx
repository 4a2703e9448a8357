import { useState } from "preact/hooks";
import { ApiError, asApiError } from "../api";
import { useI18n } from "../i18n";
import type { ClientConfig, Submission } from "../types";
import { CaptchaBox, useCaptcha } from "./CaptchaBox";
import { ErrorNote } from "./ErrorNote";
import { cleanPrompt } from "./tracking";
import { useCooldown } from "./useCooldown";

export type Blocked = "closed" | "banned" | "inFlight" | null;

interface Props {
  config: ClientConfig;
  maxChars: number;
  prompt: string;
  onPromptChange: (prompt: string) => void;
  blocked: Blocked;
  onSubmit: (prompt: string, captcha: string | null) => Promise<Submission>;
  onSubmitted: () => void;
}

export function PromptForm({ config, maxChars, prompt, onPromptChange, blocked, onSubmit, onSubmitted }: Props) {
  const { t } = useI18n();
  const captcha = useCaptcha();
  const [stage, setStage] = useState<"idle" | "verifying" | "sending">("idle");
  const [error, setError] = useState<ApiError | null>(null);
  const [waitSeconds, startCooldown] = useCooldown();
  const showCaptcha = config.captcha.provider !== "off";

  async function submit(event: Event) {
    event.preventDefault();
    if (stage !== "idle" || blocked || waitSeconds > 0) return;
    const text = cleanPrompt(prompt);
    if (!text) {
      setError(new ApiError("INVALID_INPUT", "prompt is empty", "empty"));
      return;
    }
    if (text.length > maxChars) {
      setError(new ApiError("INVALID_INPUT", "prompt is too long", "too_long"));
      return;
    }
    setError(null);
    let token: string | null = null;
    if (captcha.needed()) {
      setStage("verifying");
      try {
        token = await captcha.solve();
      } catch (caught) {
        setStage("idle");
        setError(asApiError(caught));
        return;
      }
    }
    setStage("sending");
    try {
      await onSubmit(text, token);
      onSubmitted();
    } catch (caught) {
      const apiError = asApiError(caught);
      setError(apiError);
      startCooldown(apiError);
    } finally {
      setStage("idle");
      captcha.reset();
    }
  }

  const label =
    blocked === "closed"
      ? t("prompt.closed")
      : blocked === "inFlight"
        ? t("prompt.busy")
        : waitSeconds > 0
          ? t("prompt.wait", { s: waitSeconds })
          : stage === "verifying"
            ? t("prompt.verifying")
            : stage === "sending"
              ? t("prompt.sending")
              : t("prompt.submit");
  const length = prompt.length;
  const disabled = blocked != null || stage !== "idle" || waitSeconds > 0;

  return (
    <form class="card prompt" onSubmit={submit} noValidate data-captcha={captcha.state}>
      <label class="field">
        <span class="field__label">
          {t("prompt.label")}
          <span class={`field__count ${length > maxChars * 0.9 ? "field__count--warn" : ""}`} aria-hidden="true">
            {length}/{maxChars}
          </span>
        </span>
        <textarea
          class="field__input field__input--area"
          name="prompt"
          rows={3}
          value={prompt}
          maxLength={maxChars}
          placeholder={t("prompt.placeholder")}
          enterkeyhint="send"
          disabled={blocked === "closed" || blocked === "banned"}
          onInput={(e) => onPromptChange(e.currentTarget.value)}
          onKeyDown={(e) => {
            // Enter sends on a keyboard; Shift+Enter and phones' return still type a space.
            if (e.key === "Enter" && !e.shiftKey && !e.isComposing && matchMedia("(pointer: fine)").matches) {
              e.preventDefault();
              e.currentTarget.form?.requestSubmit();
            }
          }}
        />
      </label>
      <p class="prompt__rule">{t("prompt.rule")}</p>
      {showCaptcha && blocked !== "closed" && blocked !== "banned" ? (
        <CaptchaBox config={config.captcha} {...captcha.box} />
      ) : null}
      {error ? <ErrorNote error={error} /> : null}
      {blocked === "banned" && error?.code !== "BANNED" ? <ErrorNote error={new ApiError("BANNED", "banned")} /> : null}
      <button class="button button--primary button--big" type="submit" disabled={disabled}>
        {stage !== "idle" || blocked === "inFlight" ? <span class="spinner" aria-hidden="true" /> : null}
        {label}
      </button>
    </form>
  );
}

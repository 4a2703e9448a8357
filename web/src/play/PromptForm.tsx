import { useRef, useState } from "preact/hooks";
import { ApiError, asApiError } from "../api";
import type { Captcha, CaptchaState } from "../captcha";
import { hasCountdown } from "../errors";
import { secondsLeft } from "../format";
import { useI18n } from "../i18n";
import { useNow } from "../store";
import type { ClientConfig, Submission } from "../types";
import { CaptchaBox } from "./CaptchaBox";
import { ErrorNote } from "./ErrorNote";
import { cleanPrompt } from "./tracking";

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
  const captcha = useRef<Captcha | null>(null);
  const [captchaState, setCaptchaState] = useState<CaptchaState>("idle");
  const [captchaBroken, setCaptchaBroken] = useState(false);
  const [stage, setStage] = useState<"idle" | "verifying" | "sending">("idle");
  const [error, setError] = useState<ApiError | null>(null);
  const [cooldownUntil, setCooldownUntil] = useState(0);
  const now = useNow(250, cooldownUntil > Date.now());
  const waitSeconds = secondsLeft(cooldownUntil, now);
  const useCaptcha = config.captcha.provider !== "off";

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
    const widget = captcha.current;
    if (widget) {
      setStage("verifying");
      try {
        token = await widget.solve();
      } catch {
        setStage("idle");
        setError(new ApiError("CAPTCHA_INVALID", "captcha failed"));
        widget.reset();
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
      if (hasCountdown(apiError)) setCooldownUntil(Date.now() + (apiError.retryAfter ?? 0) * 1000);
    } finally {
      setStage("idle");
      widget?.reset(); // a captcha token is good for one try
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
    <form class="card prompt" onSubmit={submit} noValidate data-captcha={captchaState}>
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
      {useCaptcha && blocked !== "closed" && blocked !== "banned" ? (
        <CaptchaBox
          config={config.captcha}
          onReady={(mounted) => {
            captcha.current = mounted;
          }}
          onState={setCaptchaState}
          onLoadError={() => setCaptchaBroken(true)}
        />
      ) : null}
      {captchaBroken ? <p class="note note--error">{t("captcha.unavailable")}</p> : null}
      {error ? <ErrorNote error={error} /> : null}
      {blocked === "banned" && error?.code !== "BANNED" ? <ErrorNote error={new ApiError("BANNED", "banned")} /> : null}
      <button class="button button--primary button--big" type="submit" disabled={disabled}>
        {stage !== "idle" || blocked === "inFlight" ? <span class="spinner" aria-hidden="true" /> : null}
        {label}
      </button>
    </form>
  );
}

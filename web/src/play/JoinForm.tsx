import { useState } from "preact/hooks";
import { ApiError, asApiError } from "../api";
import type { CaptchaConfig } from "../captcha";
import { useI18n } from "../i18n";
import { CaptchaBox, useCaptcha } from "./CaptchaBox";
import { ErrorNote } from "./ErrorNote";
import { useCooldown } from "./useCooldown";

interface Props {
  maxChars: number;
  closed: boolean;
  notice: ApiError | null;
  /** The captcha to solve before joining; null where the event does not ask for one. */
  captcha: CaptchaConfig | null;
  onJoin: (nickname: string, contact: string | null, captcha: string | null) => Promise<void>;
}

const CONTACT_MAX_CHARS = 200;

export function JoinForm({ maxChars, closed, notice, captcha: captchaConfig, onJoin }: Props) {
  const { t } = useI18n();
  const [nickname, setNickname] = useState("");
  const [contact, setContact] = useState("");
  const [consent, setConsent] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(notice);
  const captcha = useCaptcha();
  const [waitSeconds, startCooldown] = useCooldown();

  async function submit(event: Event) {
    event.preventDefault();
    if (busy || waitSeconds > 0) return;
    const trimmed = nickname.trim();
    if (!trimmed) {
      setError(new ApiError("INVALID_INPUT", "nickname is empty", "empty"));
      return;
    }
    // A contact is sent only with the box ticked; the server refuses it otherwise too.
    const kept = contact.trim();
    if (kept && !consent) {
      setError(new ApiError("INVALID_INPUT", "contact needs consent", "consent_required"));
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const token = await captcha.solve();
      await onJoin(trimmed, kept && consent ? kept : null, token);
    } catch (caught) {
      const apiError = asApiError(caught);
      setError(apiError);
      startCooldown(apiError);
    } finally {
      setBusy(false);
      captcha.reset();
    }
  }

  return (
    <form class="card join" onSubmit={submit} noValidate data-captcha={captcha.state}>
      <h2 class="card__title">{t("join.title")}</h2>
      <label class="field">
        <span class="field__label">{t("join.nickname")}</span>
        <input
          class="field__input"
          name="nickname"
          type="text"
          value={nickname}
          maxLength={maxChars}
          placeholder={t("join.placeholder")}
          autocomplete="nickname"
          autocapitalize="off"
          spellcheck={false}
          enterkeyhint="go"
          disabled={busy}
          onInput={(e) => setNickname(e.currentTarget.value)}
        />
        <span class="field__help">{t("join.help", { n: maxChars })}</span>
      </label>
      <label class="field">
        <span class="field__label">{t("join.contact")}</span>
        <input
          class="field__input"
          name="contact"
          type="text"
          value={contact}
          maxLength={CONTACT_MAX_CHARS}
          placeholder={t("join.contactPlaceholder")}
          autocomplete="email"
          autocapitalize="off"
          spellcheck={false}
          disabled={busy}
          onInput={(e) => setContact(e.currentTarget.value)}
        />
      </label>
      <label class="check">
        <input
          type="checkbox"
          name="contactConsent"
          checked={consent}
          disabled={busy}
          onChange={(e) => {
            setConsent(e.currentTarget.checked);
            if (error?.reason === "consent_required") setError(null);
          }}
        />
        <span>{t("join.consent")}</span>
      </label>
      {captchaConfig && !closed ? <CaptchaBox config={captchaConfig} {...captcha.box} /> : null}
      {error ? <ErrorNote error={error} action="join" /> : null}
      {closed ? <p class="note note--info">{t("err.EVENT_CLOSED")}</p> : null}
      <button class="button button--primary" type="submit" disabled={busy || closed || waitSeconds > 0}>
        {busy ? t("join.joining") : waitSeconds > 0 ? t("join.wait", { s: waitSeconds }) : t("join.submit")}
      </button>
    </form>
  );
}

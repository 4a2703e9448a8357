import { useState } from "preact/hooks";
import { asApiError, type ApiError } from "../api";
import { errorMessage } from "../errors";
import { useI18n } from "../i18n";

export function LoginForm({ onLogin }: { onLogin: (password: string) => Promise<void> }) {
  const { t } = useI18n();
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);

  async function submit(event: Event) {
    event.preventDefault();
    if (!password) return;
    setBusy(true);
    setError(null);
    try {
      await onLogin(password);
    } catch (caught) {
      setError(asApiError(caught));
    } finally {
      setBusy(false);
    }
  }

  const wrong = error && ["UNAUTHENTICATED", "FORBIDDEN", "INVALID_INPUT"].includes(error.code);
  return (
    <form class="panel login" onSubmit={submit}>
      <h2 class="panel__title">{t("admin.login")}</h2>
      <p class="panel__hint">{t("admin.readOnly")}</p>
      {/* For password managers: the console has one organiser account. */}
      <input type="text" name="username" autocomplete="username" value="organiser" hidden readOnly />
      <label class="field">
        <span class="field__label">{t("admin.password")}</span>
        <input
          class="field__input"
          type="password"
          name="password"
          autocomplete="current-password"
          value={password}
          disabled={busy}
          onInput={(e) => setPassword(e.currentTarget.value)}
        />
      </label>
      {error ? (
        <p class="note note--error" role="alert">
          {wrong ? t("admin.wrongPassword") : errorMessage(error, t)}
        </p>
      ) : null}
      <button class="button button--primary" type="submit" disabled={busy || !password}>
        {busy ? t("admin.loggingIn") : t("admin.login")}
      </button>
    </form>
  );
}

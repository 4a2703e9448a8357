import { useState } from "preact/hooks";
import { asApiError, type ApiError } from "../api";
import { useText } from "./text";
import { organiserError } from "./feedback";
import { login } from "./organiser";

const NAME_KEY = "lookalike.organiserName";

function savedName(): string {
  try {
    return localStorage.getItem(NAME_KEY) ?? "";
  } catch {
    return "";
  }
}

/** The organiser password, and a name for the audit log (remembered; it is no secret). */
export function LoginForm({ notice }: { notice: ApiError | null }) {
  const { t } = useText();
  const [password, setPassword] = useState("");
  const [name, setName] = useState(savedName);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);

  async function submit(event: Event) {
    event.preventDefault();
    if (!password) return;
    setBusy(true);
    setError(null);
    const who = name.trim() || "organiser";
    try {
      localStorage.setItem(NAME_KEY, name.trim());
    } catch {
      // not remembered; fine
    }
    try {
      await login(password, who);
    } catch (caught) {
      setError(asApiError(caught));
      setPassword("");
    } finally {
      setBusy(false);
    }
  }

  const message = (e: ApiError) =>
    e.code === "UNAUTHENTICATED"
      ? t("admin.wrongPassword")
      : e.code === "FORBIDDEN"
        ? t("admin.loginOff")
        : organiserError(e, t).text;

  return (
    <form class="panel login" onSubmit={submit}>
      <h2 class="panel__title">{t("admin.login")}</h2>
      <p class="panel__hint">{t("admin.loginHint")}</p>
      {notice && !error ? (
        <p class="note note--info" role="status">{t("admin.sessionEnded")}</p>
      ) : null}
      <label class="field">
        <span class="field__label">{t("admin.name")}</span>
        <input
          class="field__input"
          type="text"
          name="username"
          autocomplete="username"
          maxLength={40}
          placeholder="organiser"
          value={name}
          disabled={busy}
          onInput={(e) => setName(e.currentTarget.value)}
        />
        <span class="field__help">{t("admin.nameHelp")}</span>
      </label>
      <label class="field">
        <span class="field__label">{t("admin.password")}</span>
        <input
          class="field__input"
          type="password"
          name="password"
          autocomplete="current-password"
          value={password}
          disabled={busy}
          autofocus
          onInput={(e) => setPassword(e.currentTarget.value)}
        />
      </label>
      {error ? (
        <p class="note note--error" role="alert" data-code={error.code}>
          {message(error)}
        </p>
      ) : null}
      <button class="button button--primary button--big" type="submit" disabled={busy || !password}>
        {busy ? t("admin.loggingIn") : t("admin.login")}
      </button>
    </form>
  );
}

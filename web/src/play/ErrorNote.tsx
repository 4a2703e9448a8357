import { useMemo } from "preact/hooks";
import type { ApiError } from "../api";
import { errorMessage, hasCountdown, type ErrorAction } from "../errors";
import { secondsLeft } from "../format";
import { useI18n } from "../i18n";
import { useNow } from "../store";

/** An error in words, with a live countdown when the server said how long to wait. */
export function ErrorNote({ error, action }: { error: ApiError; action?: ErrorAction }) {
  const { t } = useI18n();
  const deadline = useMemo(() => Date.now() + (error.retryAfter ?? 0) * 1000, [error]);
  const counting = hasCountdown(error);
  const now = useNow(250, counting);
  const left = counting ? secondsLeft(deadline, now) : undefined;
  const over = counting && left === 0;
  return (
    <p
      class={`note ${over ? "note--info" : "note--error"}`}
      role="alert"
      data-code={error.code}
      data-reason={error.reason ?? ""}
    >
      {errorMessage(error, t, left, action)}
    </p>
  );
}

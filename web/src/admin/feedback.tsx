/**
 * What the console says back: a confirmation dialog before actions that feel
 * irreversible (ban, close, reveal, draw), and short notes after every action.
 */
import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import { asApiError, type ApiError } from "../api";
import { errorMessage } from "../errors";
import { createStore, useStore } from "../store";
import { hasAdminKey, textNow, useText, type Text } from "./text";

// ------------------------------------------------------------ confirmation

export interface ConfirmRequest {
  title: string;
  body?: string;
  confirm: string;
  danger?: boolean;
  /** Ask for an optional reason (kept in the audit log) with this label. */
  reasonLabel?: string;
}

interface Pending extends ConfirmRequest {
  resolve: (answer: { reason: string } | null) => void;
}

const pending = createStore<Pending | null>(null);

/** Ask before acting; resolves to null when cancelled. */
export function ask(request: ConfirmRequest): Promise<{ reason: string } | null> {
  pending.get()?.resolve(null);
  return new Promise((resolve) => pending.set({ ...request, resolve }));
}

export function ConfirmHost() {
  const { t } = useText();
  const request = useStore(pending);
  const dialog = useRef<HTMLDialogElement>(null);
  const [reason, setReason] = useState("");

  useLayoutEffect(() => {
    const element = dialog.current;
    if (!element) return;
    if (request && !element.open) {
      setReason("");
      element.showModal();
    } else if (!request && element.open) {
      element.close();
    }
  }, [request]);

  const answer = (value: { reason: string } | null) => {
    request?.resolve(value);
    pending.set(null);
  };

  return (
    <dialog
      ref={dialog}
      class={`confirm ${request?.danger ? "confirm--danger" : ""}`}
      aria-labelledby="confirm-title"
      onCancel={(e) => {
        e.preventDefault();
        answer(null);
      }}
    >
      {request ? (
        <form
          method="dialog"
          onSubmit={(e) => {
            e.preventDefault();
            answer({ reason: reason.trim() });
          }}
        >
          <h2 id="confirm-title" class="confirm__title">{request.title}</h2>
          {request.body ? <p class="confirm__body">{request.body}</p> : null}
          {request.reasonLabel ? (
            <label class="field">
              <span class="field__label">{request.reasonLabel}</span>
              <input
                class="field__input"
                type="text"
                maxLength={200}
                value={reason}
                onInput={(e) => setReason(e.currentTarget.value)}
              />
            </label>
          ) : null}
          <div class="confirm__actions">
            <button type="button" class="button" onClick={() => answer(null)} autofocus={request.danger}>
              {t("admin.cancel")}
            </button>
            <button
              type="submit"
              class={`button ${request.danger ? "button--danger" : "button--primary"}`}
              autofocus={!request.danger}
            >
              {request.confirm}
            </button>
          </div>
        </form>
      ) : null}
    </dialog>
  );
}

// ------------------------------------------------------------------ notes

interface Note {
  id: number;
  kind: "done" | "error";
  text: string;
  detail?: string;
}

const notes = createStore<Note[]>([]);
let nextId = 1;

export function notify(kind: Note["kind"], text: string, detail?: string) {
  const note: Note = { id: nextId++, kind, text, detail };
  notes.update((list) => [...list.slice(-3), note]);
  setTimeout(() => dismiss(note.id), kind === "done" ? 5_000 : 12_000);
}

function dismiss(id: number) {
  notes.update((list) => list.filter((n) => n.id !== id));
}

export function Notes() {
  const { t } = useText();
  const list = useStore(notes);
  return (
    <div class="notes">
      {list.map((note) => (
        <div
          key={note.id}
          class={`toast toast--${note.kind}`}
          role={note.kind === "error" ? "alert" : "status"}
        >
          <p class="toast__text">{note.text}</p>
          {note.detail ? <p class="toast__detail">{note.detail}</p> : null}
          <button type="button" class="toast__close" aria-label={t("admin.dismiss")} onClick={() => dismiss(note.id)}>
            ×
          </button>
        </div>
      ))}
    </div>
  );
}

/** An API error in words for organisers, and the server's own message when it helps. */
export function organiserError(error: ApiError, t: Text): { text: string; detail?: string } {
  const specific = error.reason ? `admin.err.${error.code}.${error.reason}` : "";
  if (specific && hasAdminKey(specific)) return { text: t(specific) };
  const general = `admin.err.${error.code}`;
  const text = hasAdminKey(general) ? t(general) : errorMessage(error, t);
  const explain = ["INVALID_INPUT", "NOT_FOUND", "INTERNAL", "FORBIDDEN"].includes(error.code);
  return explain && error.message ? { text, detail: error.message } : { text };
}

/**
 * Run an organiser action and say how it went: `done` words the success (or nothing);
 * a failure becomes an error note. Resolves to the result, or null after a failure.
 */
export async function act<T>(action: () => Promise<T>, done?: (result: T) => string | null): Promise<T | null> {
  const t = textNow;
  try {
    const result = await action();
    const text = done?.(result);
    if (text) notify("done", text);
    return result;
  } catch (caught) {
    const { text, detail } = organiserError(asApiError(caught), t);
    notify("error", text, detail);
    return null;
  }
}

/** Which action is running (to disable its button), and a runner that sets it. */
export function useBusy(): [string | null, <T>(key: string, action: () => Promise<T>) => Promise<T>] {
  const [busy, setBusy] = useState<string | null>(null);
  const mounted = useRef(true);
  useEffect(() => {
    mounted.current = true;
    return () => {
      mounted.current = false;
    };
  }, []);
  const run = async <T,>(key: string, action: () => Promise<T>): Promise<T> => {
    setBusy(key);
    try {
      return await action();
    } finally {
      if (mounted.current) setBusy(null);
    }
  };
  return [busy, run];
}

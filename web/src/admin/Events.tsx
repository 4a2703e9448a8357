import { useEffect, useState } from "preact/hooks";
import { Picture } from "../components/Picture";
import { count, dateTime } from "../format";
import { useText } from "./text";
import { CREATE_EVENT, SET_EVENT_SCHEDULE, UPDATE_EVENT } from "../operations";
import type { OrganiserEvent } from "../types";
import { onEvent } from "./actions";
import { act, useBusy } from "./feedback";
import { call, uploadTarget } from "./organiser";
import { fromLocalInput, scheduleProblem, toLocalInput } from "./schedule";
import { StatusBadge } from "./StatusBadge";
import { chosenEventId, type EventsModel } from "./useEvents";

/** Largest target picture the server takes (LOOKALIKE_TARGET_MAX_BYTES by default). */
const TARGET_MAX_BYTES = 10_000_000;

/** Every event, with its controls, and the form for a new one. */
export function Events({ model }: { model: EventsModel }) {
  const { t } = useText();
  const events = [...(model.events ?? [])].sort((a, b) => b.createdAt - a.createdAt);
  return (
    <div class="events-layout">
      <section class="panel" aria-labelledby="events-title">
        <h2 class="panel__title" id="events-title">{t("admin.events")}</h2>
        <p class="panel__hint">{t("admin.eventsHint")}</p>
        <ul class="event-list">
          {events.map((event) => (
            <EventRow key={event.id} event={event} model={model} />
          ))}
        </ul>
      </section>
      <NewEvent model={model} />
    </div>
  );
}

function EventRow({ event, model }: { event: OrganiserEvent; model: EventsModel }) {
  const { t, lang } = useText();
  const [busy, run] = useBusy();
  const [editing, setEditing] = useState(false);

  const action = (name: Parameters<typeof onEvent>[0]) =>
    run(name, async () => {
      const changed = await onEvent(name, event);
      if (!changed) return;
      // Making one event current changes the others too.
      if (name === "setCurrentEvent") await model.refresh();
      else model.replace(changed);
    });

  return (
    <li class={`event-row ${event.current ? "event-row--current" : ""}`} data-event-id={event.id}>
      <Picture class="event-row__target" src={event.targetImageUrl} alt={t("board.target")} />
      <div class="event-row__facts">
        <p class="event-row__title">
          <span class="event-row__name">{event.title}</span>
          {event.current ? <span class="badge badge--current">{t("admin.current")}</span> : null}
          <StatusBadge event={event} />
          {event.frozen ? <span class="badge badge--frozen">{t("admin.frozenBadge")}</span> : null}
          {event.holdForReview ? <span class="badge badge--warn">{t("admin.holdForReview")}</span> : null}
          {event.joinCaptcha ? <span class="badge badge--muted">{t("admin.joinCaptchaBadge")}</span> : null}
          {event.promptsRevealed ? <span class="badge badge--muted">{t("admin.revealedBadge")}</span> : null}
        </p>
        <p class="event-row__meta">
          {count(event.participantCount, lang)} {t("board.players")} · {count(event.submissionCount, lang)}{" "}
          {t("board.drawings")}
          {event.opensAt ? ` · ${t("admin.opensAt")} ${dateTime(event.opensAt * 1000, lang)}` : ""}
          {event.closesAt ? ` · ${t("admin.closesAt")} ${dateTime(event.closesAt * 1000, lang)}` : ""}
        </p>
        <div class="event-row__actions">
          {!event.current ? (
            <button type="button" class="button button--small button--primary" disabled={busy != null} onClick={() => action("setCurrentEvent")}>
              {t("admin.makeCurrent")}
            </button>
          ) : null}
          {event.status === "OPEN" ? (
            <button type="button" class="button button--small button--danger" disabled={busy != null} onClick={() => action("closeEvent")}>
              {t("admin.closeEvent")}
            </button>
          ) : (
            <button type="button" class="button button--small" disabled={busy != null} onClick={() => action("openEvent")}>
              {t("admin.openEvent")}
            </button>
          )}
          <button
            type="button"
            class="button button--small"
            disabled={busy != null}
            onClick={() => action(event.frozen ? "unfreezeLeaderboard" : "freezeLeaderboard")}
          >
            {event.frozen ? t("admin.unfreeze") : t("admin.freeze")}
          </button>
          <button type="button" class="button button--small button--quiet" aria-expanded={editing} onClick={() => setEditing((v) => !v)}>
            {t("admin.edit")}
          </button>
          <button type="button" class="button button--small button--quiet" onClick={() => chosenEventId.set(event.id)}>
            {t("admin.workOnThis")}
          </button>
        </div>
        {editing ? <EditEvent event={event} onSaved={model.replace} onDone={() => setEditing(false)} /> : null}
      </div>
    </li>
  );
}

/** A target picture input with a preview; `onPick` gets the file or null. */
function TargetPicker({ file, onPick, disabled }: { file: File | null; onPick: (file: File | null) => void; disabled?: boolean }) {
  const { t } = useText();
  const [preview, setPreview] = useState<string | null>(null);
  useEffect(() => {
    if (!file) {
      setPreview(null);
      return undefined;
    }
    const url = URL.createObjectURL(file);
    setPreview(url);
    return () => URL.revokeObjectURL(url);
  }, [file]);
  const tooLarge = file != null && file.size > TARGET_MAX_BYTES;
  return (
    <div class="target-picker">
      <label class="field">
        <span class="field__label">{t("admin.target")}</span>
        <input
          class="field__file"
          type="file"
          name="target"
          accept="image/png,image/jpeg,image/webp,image/gif"
          disabled={disabled}
          onChange={(e) => onPick(e.currentTarget.files?.[0] ?? null)}
        />
        <span class="field__help">{t("admin.targetHelp")}</span>
      </label>
      {preview ? <img class="target-picker__preview" src={preview} alt={t("admin.targetPreview")} /> : null}
      {tooLarge ? <p class="note note--error">{t("admin.err.INVALID_INPUT.too_large")}</p> : null}
    </div>
  );
}

function NewEvent({ model }: { model: EventsModel }) {
  const { t } = useText();
  const [title, setTitle] = useState("");
  const [opens, setOpens] = useState("");
  const [closes, setCloses] = useState("");
  const [hold, setHold] = useState(false);
  const [makeCurrent, setMakeCurrent] = useState(false);
  const [file, setFile] = useState<File | null>(null);
  const [formKey, setFormKey] = useState(0);
  const [busy, run] = useBusy();

  const opensAt = fromLocalInput(opens);
  const closesAt = fromLocalInput(closes);
  const problem = scheduleProblem(opensAt, closesAt);
  const tooLarge = file != null && file.size > TARGET_MAX_BYTES;

  const submit = (e: Event) => {
    e.preventDefault();
    if (!title.trim() || problem || tooLarge) return;
    void run("create", async () => {
      const created = await act(
        async () => {
          const data = await call<{ createEvent: OrganiserEvent }>(CREATE_EVENT, {
            title: title.trim(),
            opensAt,
            closesAt,
            holdForReview: hold,
            makeCurrent,
          });
          const created = data.createEvent;
          return file ? { ...created, targetImageUrl: await uploadTarget(created.id, file) } : created;
        },
        (event) => t("admin.done.created", { title: event.title }),
      );
      if (!created) return;
      if (created.current) await model.refresh();
      else model.replace(created);
      setTitle("");
      setOpens("");
      setCloses("");
      setHold(false);
      setMakeCurrent(false);
      setFile(null);
      setFormKey((k) => k + 1); // clears the file input
    });
  };

  return (
    <form class="panel new-event" onSubmit={submit} aria-labelledby="new-event-title">
      <h2 class="panel__title" id="new-event-title">{t("admin.newEvent")}</h2>
      <label class="field">
        <span class="field__label">{t("admin.eventTitle")}</span>
        <input
          class="field__input"
          type="text"
          name="title"
          required
          maxLength={80}
          value={title}
          onInput={(e) => setTitle(e.currentTarget.value)}
        />
      </label>
      <div class="field-row">
        <label class="field">
          <span class="field__label">{t("admin.opensAt")}</span>
          <input class="field__input" type="datetime-local" name="opensAt" value={opens} onInput={(e) => setOpens(e.currentTarget.value)} />
        </label>
        <label class="field">
          <span class="field__label">{t("admin.closesAt")}</span>
          <input class="field__input" type="datetime-local" name="closesAt" value={closes} onInput={(e) => setCloses(e.currentTarget.value)} />
        </label>
      </div>
      <p class="field__help">{t("admin.scheduleHelp")}</p>
      {problem ? <p class="note note--error">{t("admin.err.INVALID_INPUT.schedule")}</p> : null}
      <TargetPicker key={formKey} file={file} onPick={setFile} />
      <label class="check">
        <input type="checkbox" name="holdForReview" checked={hold} onChange={(e) => setHold(e.currentTarget.checked)} />
        <span>
          {t("admin.holdForReview")}
          <small class="check__help">{t("admin.holdHelp")}</small>
        </span>
      </label>
      <label class="check">
        <input type="checkbox" name="makeCurrent" checked={makeCurrent} onChange={(e) => setMakeCurrent(e.currentTarget.checked)} />
        <span>
          {t("admin.makeCurrentNow")}
          <small class="check__help">{t("admin.makeCurrentHelp")}</small>
        </span>
      </label>
      <button type="submit" class="button button--primary" disabled={busy != null || !title.trim() || problem != null || tooLarge}>
        {busy ? t("admin.creating") : t("admin.create")}
      </button>
    </form>
  );
}

/** Title, hold-for-review, the join captcha, schedule and (before any drawing) the target picture. */
function EditEvent({ event, onSaved, onDone }: { event: OrganiserEvent; onSaved: (e: OrganiserEvent) => void; onDone: () => void }) {
  const { t } = useText();
  const [title, setTitle] = useState(event.title);
  const [hold, setHold] = useState(event.holdForReview);
  const [joinCaptcha, setJoinCaptcha] = useState(event.joinCaptcha);
  const [opens, setOpens] = useState(toLocalInput(event.opensAt));
  const [closes, setCloses] = useState(toLocalInput(event.closesAt));
  const [file, setFile] = useState<File | null>(null);
  const [busy, run] = useBusy();
  const opensAt = fromLocalInput(opens);
  const closesAt = fromLocalInput(closes);
  const problem = scheduleProblem(opensAt, closesAt);
  const targetLocked = event.submissionCount > 0;

  const save = (e: Event) => {
    e.preventDefault();
    if (problem || !title.trim()) return;
    void run("save", async () => {
      const saved = await act(
        async () => {
          let latest = event;
          if (title.trim() !== event.title || hold !== event.holdForReview || joinCaptcha !== event.joinCaptcha) {
            const data = await call<{ updateEvent: OrganiserEvent }>(UPDATE_EVENT, {
              id: event.id,
              title: title.trim(),
              holdForReview: hold,
              joinCaptcha,
            });
            latest = data.updateEvent;
          }
          if (opensAt !== event.opensAt || closesAt !== event.closesAt) {
            const data = await call<{ setEventSchedule: OrganiserEvent }>(SET_EVENT_SCHEDULE, { id: event.id, opensAt, closesAt });
            latest = data.setEventSchedule;
          }
          if (file) latest = { ...latest, targetImageUrl: await uploadTarget(event.id, file) };
          return latest;
        },
        (changed) => t("admin.done.saved", { title: changed.title }),
      );
      if (saved) {
        onSaved(saved);
        onDone();
      }
    });
  };

  return (
    <form class="edit-event" onSubmit={save}>
      <label class="field">
        <span class="field__label">{t("admin.eventTitle")}</span>
        <input class="field__input" type="text" maxLength={80} value={title} onInput={(e) => setTitle(e.currentTarget.value)} />
      </label>
      <div class="field-row">
        <label class="field">
          <span class="field__label">{t("admin.opensAt")}</span>
          <input class="field__input" type="datetime-local" value={opens} onInput={(e) => setOpens(e.currentTarget.value)} />
        </label>
        <label class="field">
          <span class="field__label">{t("admin.closesAt")}</span>
          <input class="field__input" type="datetime-local" value={closes} onInput={(e) => setCloses(e.currentTarget.value)} />
        </label>
      </div>
      {problem ? <p class="note note--error">{t("admin.err.INVALID_INPUT.schedule")}</p> : null}
      <label class="check">
        <input type="checkbox" checked={hold} onChange={(e) => setHold(e.currentTarget.checked)} />
        <span>
          {t("admin.holdForReview")}
          <small class="check__help">{t("admin.holdHelp")}</small>
        </span>
      </label>
      <label class="check">
        <input type="checkbox" name="joinCaptcha" checked={joinCaptcha} onChange={(e) => setJoinCaptcha(e.currentTarget.checked)} />
        <span>
          {t("admin.joinCaptcha")}
          <small class="check__help">{t("admin.joinCaptchaHelp")}</small>
        </span>
      </label>
      {targetLocked ? (
        <p class="field__help">{t("admin.targetLocked")}</p>
      ) : (
        <TargetPicker file={file} onPick={setFile} />
      )}
      <div class="edit-event__actions">
        <button type="submit" class="button button--small button--primary" disabled={busy != null || problem != null || !title.trim()}>
          {t("admin.save")}
        </button>
        <button type="button" class="button button--small" onClick={onDone}>
          {t("admin.cancel")}
        </button>
      </div>
    </form>
  );
}

import { useEffect, useState } from "preact/hooks";
import { ConnectionBadge } from "../components/ConnectionBadge";
import { LangToggle } from "../components/LangToggle";
import { clock } from "../format";
import { useText, type AdminKey } from "./text";
import { useStore } from "../store";
import { EventBar } from "./EventBar";
import { Events } from "./Events";
import { ConfirmHost, Notes } from "./feedback";
import { LoginForm } from "./LoginForm";
import { Moderation } from "./Moderation";
import { checkSession, live, logout, session } from "./organiser";
import { Players } from "./Players";
import { Raffle } from "./Raffle";
import { Records } from "./Records";
import { chosenEventId, useEvents } from "./useEvents";
import { useLiveTop } from "./useModeration";

const TABS = ["moderation", "events", "players", "raffle", "records"] as const;
type Tab = (typeof TABS)[number];
const TAB_LABEL: Record<Tab, AdminKey> = {
  moderation: "admin.tab.moderation",
  events: "admin.tab.events",
  players: "admin.tab.players",
  raffle: "admin.tab.raffle",
  records: "admin.tab.records",
};

function tabFromHash(): Tab {
  const name = location.hash.replace(/^#/, "");
  return (TABS as readonly string[]).includes(name) ? (name as Tab) : "moderation";
}

/** The organiser console: the login, then one screen per organiser task. */
export function Admin() {
  const state = useStore(session);
  useEffect(() => void checkSession(), []);
  return (
    <div class="admin-app">
      {state.status === "in" ? <Console name={state.name} expiresAt={state.expiresAt} /> : <Gate />}
      <ConfirmHost />
      <Notes />
    </div>
  );
}

function Brand() {
  const { t } = useText();
  return (
    <div class="admin-head__brand">
      <span class="logo" aria-hidden="true" />
      <h1>
        {t("brand")} <span class="admin-head__sub">{t("admin.title")}</span>
      </h1>
    </div>
  );
}

function Gate() {
  const state = useStore(session);
  return (
    <>
      <header class="admin-head">
        <Brand />
        <div class="admin-head__tools">
          <LangToggle />
        </div>
      </header>
      <main class="admin-main admin-main--gate">
        {state.status === "checking" ? (
          <div class="panel login skeleton" aria-busy="true" />
        ) : (
          <LoginForm notice={state.status === "out" ? state.notice : null} />
        )}
      </main>
    </>
  );
}

function Console({ name, expiresAt }: { name: string; expiresAt: number }) {
  const { t, lang } = useText();
  const [tab, setTab] = useState<Tab>(tabFromHash);
  const model = useEvents();
  const chosen = useStore(chosenEventId);
  const event = model.selected;
  // Live standings and counts of the selected event, for the event bar and moderation.
  const top = useLiveTop(event?.id ?? null);
  // Another organiser froze or revealed the board: re-read the events to show it.
  const liveFrozen = top?.frozen;
  useEffect(() => {
    if (liveFrozen != null && event && liveFrozen !== event.frozen) void model.refresh();
  }, [liveFrozen]);

  useEffect(() => {
    const onHash = () => setTab(tabFromHash());
    window.addEventListener("hashchange", onHash);
    return () => window.removeEventListener("hashchange", onHash);
  }, []);

  const open = (next: Tab) => {
    setTab(next);
    history.replaceState(null, "", `#${next}`);
  };

  return (
    <>
      <header class="admin-head">
        <Brand />
        <div class="admin-head__tools">
          {model.events && model.events.length > 1 ? (
            <label class="event-picker">
              <span class="event-picker__label">{t("admin.workingOn")}</span>
              <select
                class="event-picker__select"
                value={chosen ?? ""}
                onChange={(e) => chosenEventId.set(e.currentTarget.value || null)}
              >
                <option value="">{t("admin.followCurrent")}</option>
                {model.events.map((e) => (
                  <option key={e.id} value={e.id}>
                    {e.current ? `★ ${e.title}` : e.title}
                  </option>
                ))}
              </select>
            </label>
          ) : null}
          <ConnectionBadge live={live} />
          <LangToggle />
          <span class="admin-head__who" title={t("admin.until", { time: clock(expiresAt * 1000, lang) })}>
            {name}
          </span>
          <button type="button" class="button button--small" onClick={() => void logout()}>
            {t("admin.logout")}
          </button>
        </div>
      </header>

      {event ? <EventBar event={event} live={top} onChange={model.replace} /> : null}

      <nav class="tabs" role="tablist">
        {TABS.map((id) => (
          <button
            key={id}
            type="button"
            role="tab"
            aria-selected={tab === id}
            class={`tabs__tab ${tab === id ? "tabs__tab--active" : ""}`}
            onClick={() => open(id)}
          >
            {t(TAB_LABEL[id])}
          </button>
        ))}
      </nav>

      <main class="admin-main" role="tabpanel">
        {model.error && !model.events ? <p class="note note--error" role="alert">{model.error.message}</p> : null}
        {!model.events && !model.error ? <div class="panel skeleton" aria-busy="true" /> : null}
        {model.events?.length === 0 ? <p class="note note--info">{t("admin.noEvents")}</p> : null}
        {event && tab === "moderation" ? <Moderation key={event.id} event={event} top={top} onChange={model.replace} /> : null}
        {tab === "events" && model.events ? <Events model={model} /> : null}
        {event && tab === "players" ? <Players key={event.id} event={event} /> : null}
        {event && tab === "raffle" ? <Raffle key={event.id} event={event} /> : null}
        {event && tab === "records" ? <Records key={event.id} event={event} /> : null}
      </main>
    </>
  );
}

import { useEffect, useState } from "preact/hooks";
import { ConnectionBadge } from "../components/ConnectionBadge";
import { LangToggle } from "../components/LangToggle";
import { Picture } from "../components/Picture";
import { count, percent } from "../format";
import { useI18n, type MessageKey } from "../i18n";
import { organiserToken } from "../session";
import { LoginForm } from "./LoginForm";
import { Moderation } from "./Moderation";
import { login, probeCapabilities, type Capabilities } from "./organiser";
import { live, useFeed } from "./useFeed";

type Tab = "moderation" | "leaderboard" | "event";
const TABS: { id: Tab; label: MessageKey }[] = [
  { id: "moderation", label: "admin.tab.moderation" },
  { id: "leaderboard", label: "admin.tab.leaderboard" },
  { id: "event", label: "admin.tab.event" },
];

export function Admin() {
  const { t, lang } = useI18n();
  const [token, setToken] = useState(organiserToken.get());
  const [capabilities, setCapabilities] = useState<Capabilities | null>(null);
  const [tab, setTab] = useState<Tab>("moderation");
  const feed = useFeed(token);

  useEffect(() => {
    let cancelled = false;
    const attempt = (n: number) =>
      probeCapabilities().then(
        (found) => !cancelled && setCapabilities(found),
        () => !cancelled && setTimeout(() => attempt(n + 1), Math.min(30_000, 1_000 * 2 ** n)),
      );
    attempt(0);
    return () => {
      cancelled = true;
    };
  }, []);

  const loginAvailable = capabilities != null && capabilities.organiserLogin !== "missing";
  const loggedIn = token != null;
  // Without an organiser login on this server there is nothing to log in to: let the
  // console try its actions and report what the server says.
  const canAct = loggedIn || (capabilities != null && !loginAvailable);

  async function onLogin(password: string) {
    const newToken = await login(password, capabilities?.organiserLogin ?? "scalar");
    organiserToken.set(newToken);
    setToken(newToken);
    live.restart();
  }

  function logout() {
    organiserToken.clear();
    setToken(null);
    live.restart();
  }

  const board = feed.board;
  const event = feed.event;

  return (
    <div class="admin-app">
      <header class="admin-head">
        <div class="admin-head__brand">
          <span class="logo" aria-hidden="true" />
          <h1>
            {t("brand")} <span class="admin-head__sub">{t("admin.title")}</span>
          </h1>
        </div>
        <div class="admin-head__tools">
          <ConnectionBadge live={live} />
          <LangToggle />
          {loggedIn ? (
            <button type="button" class="button button--small" onClick={logout}>
              {t("admin.logout")}
            </button>
          ) : null}
        </div>
      </header>

      <nav class="tabs" role="tablist">
        {TABS.map(({ id, label }) => (
          <button
            key={id}
            type="button"
            role="tab"
            aria-selected={tab === id}
            class={`tabs__tab ${tab === id ? "tabs__tab--active" : ""}`}
            onClick={() => setTab(id)}
          >
            {t(label)}
          </button>
        ))}
      </nav>

      <main class="admin-main">
        {capabilities && !loginAvailable ? <p class="note note--info">{t("admin.loginUnavailable")}</p> : null}
        {loginAvailable && !loggedIn ? <LoginForm onLogin={onLogin} /> : null}
        {board?.frozen ? <p class="note note--info">{t("admin.frozen")}</p> : null}

        {tab === "moderation" ? (
          <Moderation
            title="admin.latest"
            hint="admin.latestHint"
            drawings={board?.latest ?? []}
            capabilities={capabilities}
            canAct={canAct}
            onAuthLost={logout}
          />
        ) : null}

        {tab === "leaderboard" ? (
          <Moderation
            title="admin.top"
            drawings={(board?.submissions ?? []).map((e) => ({ ...e, name: `#${e.rank} ${e.name}` }))}
            capabilities={capabilities}
            canAct={canAct}
            onAuthLost={logout}
          />
        ) : null}

        {tab === "event" && event ? (
          <section class="panel event-info">
            <Picture class="event-info__target" src={event.targetImageUrl} alt={event.title} />
            <dl class="event-info__facts">
              <dt>{t("admin.tab.event")}</dt>
              <dd>{event.title}</dd>
              <dt>{t("admin.status")}</dt>
              <dd>{t(event.status === "OPEN" ? "admin.status.OPEN" : "admin.status.CLOSED")}</dd>
              <dt>{t("board.players")}</dt>
              <dd>{count(board?.participantCount ?? event.participantCount, lang)}</dd>
              <dt>{t("board.drawings")}</dt>
              <dd>{count(board?.submissionCount ?? event.submissionCount, lang)}</dd>
              <dt>#1</dt>
              <dd>{board?.submissions[0] ? `${board.submissions[0].name} · ${percent(board.submissions[0].score)}` : "–"}</dd>
            </dl>
            <p class="event-info__links">
              <a href="/board" target="_blank" rel="noopener">{t("admin.openBoard")}</a>
              <a href="/play" target="_blank" rel="noopener">{t("admin.openPlay")}</a>
            </p>
          </section>
        ) : null}
      </main>
    </div>
  );
}

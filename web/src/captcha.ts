/**
 * The captcha on the prompt form (and the join form where the event asks for one), behind
 * one small interface whatever the provider.
 *
 * ALTCHA (the default) is a proof-of-work widget bundled with the page: it needs no
 * third-party origin, and it starts solving as soon as the form gets focus, so by the
 * time someone has typed a prompt the check is usually done. Turnstile, hCaptcha and
 * reCAPTCHA load their script from their own origin (they cannot work offline).
 */
import type { Lang } from "./i18n";
import type { ClientConfig } from "./types";

export type CaptchaState = "idle" | "solving" | "ready" | "error";

export interface Captcha {
  /** The token to send as `captcha`; solves first if needed. */
  solve(): Promise<string>;
  /** Forget the used token (each one is good for one submission). */
  reset(): void;
  destroy(): void;
}

export type CaptchaConfig = ClientConfig["captcha"];

interface Mount {
  container: HTMLElement;
  config: CaptchaConfig;
  lang: Lang;
  onState: (state: CaptchaState) => void;
}

export async function mountCaptcha(mount: Mount): Promise<Captcha | null> {
  switch (mount.config.provider) {
    case "off":
      return null;
    case "altcha":
      return mountAltcha(mount);
    default:
      return mountHosted(mount);
  }
}

/** A promise that the next settled state of a token-producing widget resolves. */
class Pending {
  private waiters: { resolve: (token: string) => void; reject: (error: Error) => void }[] = [];
  settle(token: string | null, error?: Error) {
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) {
      if (token) waiter.resolve(token);
      else waiter.reject(error ?? new Error("captcha failed"));
    }
  }
  wait(): Promise<string> {
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }
}

type AltchaElement = HTMLElement & { verify(): Promise<{ payload?: string } | null>; reset(): void };
type AltchaStateDetail = { state: string; payload?: string };

/** ALTCHA widget v3: it speaks the PoW v2 challenges `GET /api/captcha/challenge` hands out. */
async function mountAltcha({ container, config, lang, onState }: Mount): Promise<Captcha> {
  await import("altcha");
  if (lang === "ko") await import("altcha/i18n/ko");
  const widget = document.createElement("altcha-widget") as AltchaElement;
  widget.setAttribute("challenge", config.challengeUrl || "/api/captcha/challenge");
  widget.setAttribute("auto", "onfocus"); // start solving while the prompt is being typed
  widget.setAttribute("language", lang);
  widget.setAttribute("name", "altcha");
  widget.setAttribute("configuration", JSON.stringify({ hideFooter: true, hideLogo: true, credentials: "same-origin" }));
  let payload: string | null = null;
  let verifying = false;
  const pending = new Pending();
  widget.addEventListener("statechange", (event) => {
    const detail = (event as CustomEvent<AltchaStateDetail>).detail;
    verifying = detail.state === "verifying";
    payload = detail.state === "verified" ? (detail.payload ?? null) : null;
    if (detail.state === "verified") {
      onState("ready");
      pending.settle(payload);
    } else if (detail.state === "verifying") {
      onState("solving");
    } else if (detail.state === "error") {
      onState("error");
      pending.settle(null);
    } else {
      onState("idle");
    }
  });
  container.replaceChildren(widget);
  return {
    async solve() {
      if (payload) return payload;
      const result = pending.wait();
      if (!verifying) {
        // verify() resolves with the payload; the statechange above settles waiters too.
        void widget.verify().then((r) => r?.payload && pending.settle(r.payload), () => pending.settle(null));
      }
      return result;
    },
    reset() {
      payload = null;
      widget.reset();
    },
    destroy() {
      pending.settle(null);
      widget.remove();
    },
  };
}

interface HostedApi {
  render(element: HTMLElement, options: Record<string, unknown>): string | number;
  reset(id?: string | number): void;
  remove?(id?: string | number): void;
  execute?(id?: string | number): void;
}

const HOSTED: Record<string, { script: (lang: Lang, onload: string) => string; global: string }> = {
  turnstile: {
    script: (lang, onload) =>
      `https://challenges.cloudflare.com/turnstile/v0/api.js?render=explicit&onload=${onload}&hl=${lang}`,
    global: "turnstile",
  },
  hcaptcha: {
    script: (lang, onload) => `https://js.hcaptcha.com/1/api.js?render=explicit&onload=${onload}&hl=${lang}`,
    global: "hcaptcha",
  },
  recaptcha: {
    script: (lang, onload) => `https://www.google.com/recaptcha/api.js?render=explicit&onload=${onload}&hl=${lang}`,
    global: "grecaptcha",
  },
};

async function mountHosted({ container, config, lang, onState }: Mount): Promise<Captcha> {
  const provider = HOSTED[config.provider];
  const api = await loadHostedScript(provider.script(lang, "__lookalikeCaptchaLoaded"), provider.global);
  let token: string | null = null;
  const pending = new Pending();
  const target = document.createElement("div");
  container.replaceChildren(target);
  const id = api.render(target, {
    sitekey: config.siteKey,
    theme: "dark",
    language: lang,
    callback: (value: string) => {
      token = value;
      onState("ready");
      pending.settle(value);
    },
    "expired-callback": () => {
      token = null;
      onState("idle");
    },
    "error-callback": () => {
      token = null;
      onState("error");
      pending.settle(null);
    },
  });
  return {
    solve() {
      return token ? Promise.resolve(token) : pending.wait();
    },
    reset() {
      token = null;
      api.reset(id);
      onState("idle");
    },
    destroy() {
      pending.settle(null);
      api.remove?.(id);
      container.replaceChildren();
    },
  };
}

function loadHostedScript(src: string, global: string): Promise<HostedApi> {
  const existing = (window as unknown as Record<string, HostedApi | undefined>)[global];
  if (existing) return Promise.resolve(existing);
  return new Promise((resolve, reject) => {
    (window as unknown as Record<string, unknown>).__lookalikeCaptchaLoaded = () => {
      const api = (window as unknown as Record<string, HostedApi | undefined>)[global];
      if (api) resolve(api);
      else reject(new Error(`${global} did not load`));
    };
    const script = document.createElement("script");
    script.src = src;
    script.async = true;
    script.onerror = () => reject(new Error(`could not load ${src}`));
    document.head.append(script);
  });
}

/** The server's client configuration (`GET /api/config`), fetched once per page. */
import { getJson } from "./api";
import type { ClientConfig } from "./types";

const FALLBACK: ClientConfig = {
  captcha: { provider: "off", siteKey: "", challengeUrl: "/api/captcha/challenge" },
  playUrl: "",
};

let pending: Promise<ClientConfig> | null = null;

export function loadConfig(): Promise<ClientConfig> {
  pending ??= getJson<Partial<ClientConfig>>("/api/config").then(
    (raw) => ({
      captcha: { ...FALLBACK.captcha, ...(raw.captcha ?? {}) },
      playUrl: raw.playUrl || `${location.origin}/play`,
    }),
    (error: unknown) => {
      pending = null; // try again next time
      throw error;
    },
  );
  return pending;
}

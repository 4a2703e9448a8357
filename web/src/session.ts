/**
 * The participant's bearer token (from `join`), kept in localStorage. It also lives in
 * an HttpOnly cookie; the stored copy is what the WebSocket's connection_init carries.
 * (The organiser's token is never stored: see `admin/organiser.ts`.)
 */

export interface TokenStore {
  get(): string | null;
  set(token: string): void;
  clear(): void;
}

function tokenStore(key: string): TokenStore {
  let memory: string | null = null; // when storage is blocked
  return {
    get() {
      try {
        return localStorage.getItem(key) ?? memory;
      } catch {
        return memory;
      }
    },
    set(token) {
      memory = token;
      try {
        localStorage.setItem(key, token);
      } catch {
        // memory copy only
      }
    },
    clear() {
      memory = null;
      try {
        localStorage.removeItem(key);
      } catch {
        // nothing stored
      }
    },
  };
}

export const participantToken = tokenStore("lookalike.token");

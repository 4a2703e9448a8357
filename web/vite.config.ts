import { resolve } from "node:path";
import { defineConfig } from "vitest/config";

const page = (name: string) => resolve(import.meta.dirname, `${name}.html`);

// The pages share one bundle graph; the server maps /play, /board, /admin and /results
// to the HTML files and serves /assets/* as static files from the same origin.
export default defineConfig({
  base: "/",
  esbuild: { jsx: "automatic", jsxImportSource: "preact" },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2020",
    assetsInlineLimit: 4096,
    rollupOptions: {
      input: { play: page("play"), board: page("board"), admin: page("admin"), results: page("results") },
    },
  },
  server: {
    // `npm run dev` against a local `lookalike up` on :8000.
    proxy: {
      "/graphql": { target: "http://127.0.0.1:8000", ws: true },
      "/api": "http://127.0.0.1:8000",
      "/images": "http://127.0.0.1:8000",
      "/healthz": "http://127.0.0.1:8000",
    },
  },
  test: { environment: "node", include: ["src/**/*.test.ts"] },
});

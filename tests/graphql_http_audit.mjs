// The GraphQL-over-HTTP spec's own server audit (graphql-http's `auditServer`) against
// the server at argv[2]; prints the audits that did not pass as one JSON array.
// graphql-http is a dev dependency of web/ (installed by `./dev test`'s `npm ci`).
import { createRequire } from "node:module";

const require = createRequire(new URL("../web/package.json", import.meta.url));
const { auditServer } = require("graphql-http");

const results = await auditServer({ url: process.argv[2] });
const failed = results
  .filter((result) => result.status !== "ok")
  .map(({ id, name, status, reason }) => ({ id, name, status, reason }));
console.log(JSON.stringify({ audits: results.length, failed }));
